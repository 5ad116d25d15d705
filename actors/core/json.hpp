#pragma once

#include <string>
#include <string_view>

namespace olocal {

/// `text` as a JSON string literal, quotes included.
std::string json_quote(std::string_view text);

/// Appends json_quote(text) to `out`.
void append_json_quoted(std::string& out, std::string_view text);

} // namespace olocal
