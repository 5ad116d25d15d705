#pragma once

// Typed reads of one JSON object's fields for the state files' parsers,
// each error naming the record and the key ("claims[2].\"path\" is not a
// string"). Include only where Boost.JSON is parsed already.

#include <caf/error.hpp>

#include <caf/expected.hpp>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace olocal {

/// `Bad` turns a description into the caller's error (file name, code).
template <class Bad>
class json_fields {
public:
  json_fields(const boost::json::object& object, std::string where, Bad bad)
    : object_(object), where_(std::move(where)), bad_(std::move(bad)) {}

  caf::error text(const char* key, std::string& out, bool required) {
    auto* v = object_.if_contains(key);
    if (v == nullptr)
      return missing(key, required);
    if (!v->is_string())
      return bad_(where_ + ".\"" + key + "\" is not a string");
    out = std::string{v->as_string()};
    return {};
  }

  /// A non-negative integer.
  template <class T>
  caf::error number(const char* key, T& out, bool required) {
    static_assert(std::is_integral_v<T>);
    auto* v = object_.if_contains(key);
    if (v == nullptr)
      return missing(key, required);
    if (v->is_uint64())
      out = static_cast<T>(v->as_uint64());
    else if (v->is_int64() && v->as_int64() >= 0)
      out = static_cast<T>(v->as_int64());
    else
      return bad_(where_ + ".\"" + key + "\" is not a non-negative integer");
    return {};
  }

  caf::error boolean(const char* key, bool& out, bool required) {
    auto* v = object_.if_contains(key);
    if (v == nullptr)
      return missing(key, required);
    if (!v->is_bool())
      return bad_(where_ + ".\"" + key + "\" is not a boolean");
    out = v->as_bool();
    return {};
  }

private:
  caf::error missing(const char* key, bool required) {
    return required ? bad_(where_ + " has no \"" + key + "\"") : caf::error{};
  }

  const boost::json::object& object_;
  std::string where_;
  Bad bad_;
};

/// Parses a state file shaped {"version": 1, "<list_key>": [...]}: the
/// document (its list checked to be an array), or bad() saying what is wrong.
template <class Bad>
caf::expected<boost::json::value> parse_state_document(std::string_view text, const char* list_key,
                                                       Bad bad) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(text, ec);
  if (ec)
    return bad("not valid JSON: " + ec.message());
  if (!doc.is_object())
    return bad("not a JSON object");
  auto& root = doc.as_object();
  auto* version = root.if_contains("version");
  if (version == nullptr || !((version->is_int64() && version->as_int64() == 1) ||
                              (version->is_uint64() && version->as_uint64() == 1)))
    return bad("\"version\" must be 1");
  auto* list = root.if_contains(list_key);
  if (list == nullptr || !list->is_array())
    return bad("\"" + std::string{list_key} + "\" must be an array");
  return doc;
}

} // namespace olocal
