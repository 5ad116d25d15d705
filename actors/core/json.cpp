#include "actors/core/json.hpp"

namespace olocal {

void append_json_quoted(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  // Runs that need no escaping (almost all text) are appended whole.
  size_t plain = 0;
  while (plain < text.size()) {
    auto c = static_cast<unsigned char>(text[plain]);
    if (c < 0x20 || c == '"' || c == '\\')
      break;
    ++plain;
  }
  out.append(text.data(), plain);
  text.remove_prefix(plain);
  for (unsigned char c : text) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xf];
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
}

std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_quoted(out, text);
  return out;
}

} // namespace olocal
