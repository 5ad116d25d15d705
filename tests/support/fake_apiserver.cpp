#include "tests/support/fake_apiserver.hpp"

#include <boost/json.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>

namespace olocal::test {
namespace {

namespace json = boost::json;
using steady = std::chrono::steady_clock;

// ------------------------------------------------------------ small helpers ---

std::string to_lower(std::string s) {
  for (auto& ch : s)
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

/// Go's strconv.ParseBool, which is what the real server uses for query flags.
std::optional<bool> parse_go_bool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "TRUE" || s == "True")
    return true;
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "FALSE" || s == "False")
    return false;
  return std::nullopt;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 19)
    return std::nullopt;
  std::uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9')
      return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  return v;
}

std::optional<std::int64_t> parse_i64(std::string_view s) {
  bool negative = !s.empty() && s.front() == '-';
  if (negative)
    s.remove_prefix(1);
  auto v = parse_u64(s);
  if (!v)
    return std::nullopt;
  auto value = static_cast<std::int64_t>(*v);
  return negative ? -value : value;
}

int hex_value(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

/// Percent-decoding; in a query '+' is a space (Go's url.ParseQuery).
std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else if (s[i] == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

constexpr std::string_view b64_alphabet =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64.RawURLEncoding, as the real continue tokens use.
std::string base64url_encode(std::string_view in) {
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = (static_cast<unsigned char>(in[i]) << 16) |
             (static_cast<unsigned char>(in[i + 1]) << 8) | static_cast<unsigned char>(in[i + 2]);
    out += b64_alphabet[(n >> 18) & 63];
    out += b64_alphabet[(n >> 12) & 63];
    out += b64_alphabet[(n >> 6) & 63];
    out += b64_alphabet[n & 63];
  }
  if (i + 1 == in.size()) {
    auto n = static_cast<unsigned char>(in[i]) << 16;
    out += b64_alphabet[(n >> 18) & 63];
    out += b64_alphabet[(n >> 12) & 63];
  } else if (i + 2 == in.size()) {
    auto n =
      (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += b64_alphabet[(n >> 18) & 63];
    out += b64_alphabet[(n >> 12) & 63];
    out += b64_alphabet[(n >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  std::string out;
  unsigned bits = 0;
  int count = 0;
  for (char ch : in) {
    auto pos = b64_alphabet.find(ch);
    if (pos == std::string_view::npos)
      return std::nullopt;
    bits = (bits << 6) | static_cast<unsigned>(pos);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xff));
    }
  }
  return out;
}

std::string now_rfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// ------------------------------------------------------------ JSON helpers ---

const json::object* child_object(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_object() : nullptr;
}

std::string get_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v != nullptr && v->is_string())
    return std::string(v->get_string());
  return {};
}

json::object& ensure_object(json::object& o, std::string_view key) {
  json::value& v = o[key];
  if (!v.is_object())
    v.emplace_object();
  return v.get_object();
}

std::string meta_string(const json::object& o, std::string_view key) {
  const json::object* m = child_object(o, "metadata");
  return m != nullptr ? get_string(*m, key) : std::string{};
}

std::string object_key(std::string_view ns, std::string_view name) {
  return ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name);
}

/// kind and apiVersion first, the rest in its own order.
json::object canonical(const resource_def& def, const json::object& obj) {
  json::object out;
  out["kind"] = def.kind;
  out["apiVersion"] = def.api_version();
  for (const auto& kv : obj)
    if (kv.key() != "kind" && kv.key() != "apiVersion")
      out[kv.key()] = kv.value();
  return out;
}

std::string render_field(const json::value& v) {
  if (v.is_string())
    return std::string(v.get_string());
  if (v.is_null())
    return "";
  return json::serialize(v);
}

/// The value at a dotted path ("spec.nodeName"), "" when absent.
std::string field_value(const json::object& obj, std::string_view path) {
  const json::object* cur = &obj;
  while (true) {
    auto dot = path.find('.');
    std::string_view part = path.substr(0, dot);
    const json::value* v = cur->if_contains(part);
    if (v == nullptr)
      return "";
    if (dot == std::string_view::npos)
      return render_field(*v);
    cur = v->if_object();
    if (cur == nullptr)
      return "";
    path.remove_prefix(dot + 1);
  }
}

// --------------------------------------------------------------- errors ---

/// A failure answered as metav1.Status; thrown inside request handling only and
/// caught where the response is written.
struct api_error {
  int code = 500;
  std::string reason;
  std::string message;
  json::object details;
  std::vector<std::pair<std::string, std::string>> headers;

  json::object to_status() const {
    json::object s;
    s["kind"] = "Status";
    s["apiVersion"] = "v1";
    s["metadata"] = json::object{};
    s["status"] = "Failure";
    s["message"] = message;
    s["reason"] = reason;
    if (!details.empty())
      s["details"] = details;
    s["code"] = code;
    return s;
  }
};

std::string reason_for_code(int code) {
  switch (code) {
  case 400:
    return "BadRequest";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "NotFound";
  case 405:
    return "MethodNotAllowed";
  case 409:
    return "Conflict";
  case 410:
    return "Expired";
  case 413:
    return "RequestEntityTooLarge";
  case 415:
    return "UnsupportedMediaType";
  case 422:
    return "Invalid";
  case 429:
    return "TooManyRequests";
  case 500:
    return "InternalError";
  case 503:
    return "ServiceUnavailable";
  case 504:
    return "Timeout";
  default:
    return code >= 500 ? "InternalError" : "Unknown";
  }
}

json::object resource_details(const resource_def& def, std::string_view name) {
  json::object d;
  if (!name.empty())
    d["name"] = name;
  if (!def.group.empty())
    d["group"] = def.group;
  d["kind"] = def.plural;
  return d;
}

/// "pods" or "nodelocalstorages.csi.aliyun.com", as the real messages qualify resources.
std::string qualified(const resource_def& def) {
  return def.group.empty() ? def.plural : def.plural + "." + def.group;
}

api_error bad_request(std::string message) {
  return {400, "BadRequest", std::move(message), {}, {}};
}

api_error not_found(const resource_def& def, std::string_view name) {
  return {404,
          "NotFound",
          qualified(def) + " \"" + std::string(name) + "\" not found",
          resource_details(def, name),
          {}};
}

api_error no_such_path() {
  return {404, "NotFound", "the server could not find the requested resource", {}, {}};
}

api_error method_not_allowed() {
  return {405,
          "MethodNotAllowed",
          "the server does not allow this method on the requested resource",
          {},
          {}};
}

api_error already_exists(const resource_def& def, std::string_view name) {
  return {409,
          "AlreadyExists",
          qualified(def) + " \"" + std::string(name) + "\" already exists",
          resource_details(def, name),
          {}};
}

api_error conflict(const resource_def& def, std::string_view name, const std::string& why) {
  return {409,
          "Conflict",
          "Operation cannot be fulfilled on " + qualified(def) + " \"" + std::string(name) +
            "\": " + why,
          resource_details(def, name),
          {}};
}

const std::string modified_since =
  "the object has been modified; please apply your changes to the latest version and try again";

api_error invalid(const resource_def& def, std::string_view name, const std::string& field,
                  const std::string& cause_reason, const std::string& detail) {
  json::object d;
  d["name"] = name;
  if (!def.group.empty())
    d["group"] = def.group;
  d["kind"] = def.kind;
  json::object cause;
  cause["reason"] = cause_reason;
  cause["message"] = detail;
  cause["field"] = field;
  d["causes"] = json::array{cause};
  return {422,
          "Invalid",
          def.kind + " \"" + std::string(name) + "\" is invalid: " + field + ": " + detail,
          d,
          {}};
}

api_error unsupported_patch() {
  return {415,
          "UnsupportedMediaType",
          "the body of the request was in an unknown format - accepted media types include: "
          "application/json-patch+json, application/merge-patch+json",
          {},
          {}};
}

api_error expired(std::string message) {
  return {410, "Expired", std::move(message), {}, {}};
}

// ------------------------------------------------------------ selectors ---

struct label_requirement {
  enum class op_t { exists, not_exists, in, not_in, greater, less };
  std::string key;
  op_t op = op_t::exists;
  std::vector<std::string> values;
};

struct label_selector {
  std::vector<label_requirement> requirements;

  bool matches(const json::object& obj) const {
    const json::object* meta = child_object(obj, "metadata");
    const json::object* labels = meta != nullptr ? child_object(*meta, "labels") : nullptr;
    for (const auto& r : requirements) {
      const json::value* v = labels != nullptr ? labels->if_contains(r.key) : nullptr;
      bool has = v != nullptr;
      std::string value = has ? render_field(*v) : std::string{};
      auto in_values = [&] {
        return std::find(r.values.begin(), r.values.end(), value) != r.values.end();
      };
      using op = label_requirement::op_t;
      switch (r.op) {
      case op::exists:
        if (!has)
          return false;
        break;
      case op::not_exists:
        if (has)
          return false;
        break;
      case op::in:
        if (!has || !in_values())
          return false;
        break;
      case op::not_in:
        if (has && in_values())
          return false;
        break;
      case op::greater:
      case op::less: {
        auto lhs = parse_i64(value);
        auto rhs = parse_i64(r.values.front());
        if (!has || !lhs || !rhs)
          return false;
        if (r.op == op::greater ? !(*lhs > *rhs) : !(*lhs < *rhs))
          return false;
        break;
      }
      }
    }
    return true;
  }
};

/// Tokens of the label selector language (k8s.io/apimachinery/pkg/labels).
struct selector_lexer {
  std::string_view input;
  std::size_t pos = 0;

  static bool is_special(char ch) {
    return ch == ',' || ch == '(' || ch == ')' || ch == '=' || ch == '!' || ch == '<' || ch == '>';
  }
  static bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; }

  /// Next token without consuming it; "" at the end.
  std::string peek() {
    auto saved = pos;
    auto tok = next();
    pos = saved;
    return tok;
  }
  std::string next() {
    while (pos < input.size() && is_space(input[pos]))
      ++pos;
    if (pos >= input.size())
      return "";
    char ch = input[pos];
    if (is_special(ch)) {
      ++pos;
      if ((ch == '!' || ch == '=') && pos < input.size() && input[pos] == '=') {
        ++pos;
        return ch == '!' ? "!=" : "==";
      }
      return std::string(1, ch);
    }
    auto start = pos;
    while (pos < input.size() && !is_special(input[pos]) && !is_space(input[pos]))
      ++pos;
    return std::string(input.substr(start, pos - start));
  }
};

bool is_identifier(const std::string& tok) {
  return !tok.empty() && !selector_lexer::is_special(tok.front());
}

bool valid_label_key(const std::string& key) {
  if (key.empty() || key.size() > 317)
    return false;
  return std::all_of(key.begin(), key.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-' || ch == '_' ||
           ch == '.' || ch == '/';
  });
}

bool valid_label_value(const std::string& value) {
  if (value.size() > 63)
    return false;
  return std::all_of(value.begin(), value.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 || ch == '-' || ch == '_' || ch == '.';
  });
}

label_selector parse_label_selector(std::string_view text) {
  label_selector sel;
  selector_lexer lex{text};
  auto fail = [&](const std::string& why) {
    return bad_request("unable to parse requirement: " + why);
  };
  if (lex.peek().empty())
    return sel;
  while (true) {
    label_requirement req;
    std::string tok = lex.next();
    using op = label_requirement::op_t;
    if (tok == "!") {
      req.key = lex.next();
      req.op = op::not_exists;
      if (!valid_label_key(req.key))
        throw fail("invalid label key \"" + req.key + "\"");
    } else {
      req.key = tok;
      if (!valid_label_key(req.key))
        throw fail("invalid label key \"" + req.key + "\"");
      std::string oper = lex.peek();
      if (oper.empty() || oper == ",") {
        req.op = op::exists;
      } else {
        lex.next();
        if (oper == "=" || oper == "==" || oper == "!=") {
          req.op = oper == "!=" ? op::not_in : op::in;
          std::string value = is_identifier(lex.peek()) ? lex.next() : std::string{};
          req.values.push_back(value);
        } else if (oper == "in" || oper == "notin") {
          req.op = oper == "in" ? op::in : op::not_in;
          if (lex.next() != "(")
            throw fail("found '" + lex.peek() + "', expected: '('");
          while (true) {
            std::string value = is_identifier(lex.peek()) ? lex.next() : std::string{};
            req.values.push_back(value);
            std::string sep = lex.next();
            if (sep == ")")
              break;
            if (sep != ",")
              throw fail("found '" + sep + "', expected: ',' or ')'");
          }
        } else if (oper == ">" || oper == "<") {
          req.op = oper == ">" ? op::greater : op::less;
          std::string value = lex.next();
          if (!parse_i64(value))
            throw fail("for 'Gt', 'Lt' operators, the value must be an integer");
          req.values.push_back(value);
        } else {
          throw fail("found '" + oper + "', expected: in, notin, =, ==, !=, gt, lt");
        }
      }
    }
    for (const auto& v : req.values)
      if (!valid_label_value(v))
        throw fail("invalid label value: \"" + v + "\"");
    sel.requirements.push_back(std::move(req));
    std::string sep = lex.next();
    if (sep.empty())
      break;
    if (sep != ",")
      throw fail("found '" + sep + "', expected: ',' or 'end of string'");
  }
  return sel;
}

struct field_requirement {
  std::string path;
  bool equal = true;
  std::string value;
};

struct field_selector {
  std::vector<field_requirement> requirements;

  bool matches(const json::object& obj) const {
    for (const auto& r : requirements)
      if ((field_value(obj, r.path) == r.value) != r.equal)
        return false;
    return true;
  }
};

/// k8s.io/apimachinery/pkg/fields syntax: terms split at unescaped commas,
/// operators "=", "==", "!=", backslash escapes.
field_selector parse_field_selector(std::string_view text) {
  field_selector sel;
  if (trim(text).empty())
    return sel;
  std::vector<std::string> terms(1);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      terms.back() += text.substr(i, 2);
      ++i;
    } else if (text[i] == ',') {
      terms.emplace_back();
    } else {
      terms.back() += text[i];
    }
  }
  auto unescape = [](std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size())
        ++i;
      out += s[i];
    }
    return out;
  };
  for (const auto& term : terms) {
    // the first unescaped operator
    std::size_t at = std::string::npos;
    std::size_t len = 0;
    bool equal = true;
    for (std::size_t i = 0; i < term.size(); ++i) {
      if (term[i] == '\\') {
        ++i;
        continue;
      }
      if (term.compare(i, 2, "!=") == 0) {
        at = i, len = 2, equal = false;
        break;
      }
      if (term.compare(i, 2, "==") == 0) {
        at = i, len = 2;
        break;
      }
      if (term[i] == '=') {
        at = i, len = 1;
        break;
      }
    }
    if (at == std::string::npos)
      throw bad_request("invalid field selector: '" + term + "': no operator");
    field_requirement req{std::string(trim(term.substr(0, at))), equal,
                          unescape(term.substr(at + len))};
    if (req.path.empty())
      throw bad_request("invalid field selector: '" + term + "': empty field");
    sel.requirements.push_back(std::move(req));
  }
  return sel;
}

// -------------------------------------------------------------- patches ---

/// RFC 7386 JSON merge patch.
json::value merge_patch(json::value target, const json::value& patch) {
  const json::object* p = patch.if_object();
  if (p == nullptr)
    return patch;
  if (!target.is_object())
    target.emplace_object();
  json::object& t = target.get_object();
  for (const auto& kv : *p) {
    if (kv.value().is_null()) {
      t.erase(kv.key());
    } else {
      json::value* existing = t.if_contains(kv.key());
      t[kv.key()] = merge_patch(existing != nullptr ? *existing : json::value(nullptr), kv.value());
    }
  }
  return target;
}

api_error patch_failure(const std::string& why) {
  return {422, "Invalid", why, {}, {}};
}

std::vector<std::string> parse_pointer(std::string_view ptr) {
  if (ptr.empty())
    return {};
  if (ptr.front() != '/')
    throw bad_request("invalid JSON pointer \"" + std::string(ptr) + "\"");
  std::vector<std::string> tokens;
  std::string cur;
  for (std::size_t i = 1; i <= ptr.size(); ++i) {
    if (i == ptr.size() || ptr[i] == '/') {
      tokens.push_back(cur);
      cur.clear();
    } else if (ptr[i] == '~' && i + 1 < ptr.size() && (ptr[i + 1] == '0' || ptr[i + 1] == '1')) {
      cur += ptr[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      cur += ptr[i];
    }
  }
  return tokens;
}

json::value* resolve_pointer(json::value& doc, const std::vector<std::string>& tokens,
                             std::size_t count) {
  json::value* cur = &doc;
  for (std::size_t i = 0; i < count; ++i) {
    if (auto* o = cur->if_object()) {
      cur = o->if_contains(tokens[i]);
    } else if (auto* a = cur->if_array()) {
      auto idx = parse_u64(tokens[i]);
      cur = idx && *idx < a->size() ? &(*a)[*idx] : nullptr;
    } else {
      cur = nullptr;
    }
    if (cur == nullptr)
      return nullptr;
  }
  return cur;
}

json::value pointer_remove(json::value& doc, const std::string& path) {
  auto tokens = parse_pointer(path);
  if (tokens.empty())
    throw patch_failure("cannot remove the whole document");
  json::value* parent = resolve_pointer(doc, tokens, tokens.size() - 1);
  if (parent == nullptr)
    throw patch_failure("remove operation does not apply: doc is missing path: \"" + path + "\"");
  if (auto* o = parent->if_object()) {
    auto it = o->find(tokens.back());
    if (it == o->end())
      throw patch_failure("remove operation does not apply: doc is missing key: \"" + path + "\"");
    json::value out = it->value();
    o->erase(it);
    return out;
  }
  if (auto* a = parent->if_array()) {
    auto idx = parse_u64(tokens.back());
    if (!idx || *idx >= a->size())
      throw patch_failure("remove operation does not apply: index out of range: \"" + path + "\"");
    json::value out = (*a)[*idx];
    a->erase(a->begin() + static_cast<std::ptrdiff_t>(*idx));
    return out;
  }
  throw patch_failure("remove operation does not apply: \"" + path + "\"");
}

void pointer_add(json::value& doc, const std::string& path, json::value value, bool replace) {
  auto tokens = parse_pointer(path);
  if (tokens.empty()) {
    doc = std::move(value);
    return;
  }
  json::value* parent = resolve_pointer(doc, tokens, tokens.size() - 1);
  if (parent == nullptr)
    throw patch_failure("add operation does not apply: doc is missing path: \"" + path + "\"");
  if (auto* o = parent->if_object()) {
    if (replace && o->if_contains(tokens.back()) == nullptr)
      throw patch_failure("replace operation does not apply: doc is missing key: \"" + path + "\"");
    (*o)[tokens.back()] = std::move(value);
    return;
  }
  if (auto* a = parent->if_array()) {
    if (tokens.back() == "-" && !replace) {
      a->push_back(std::move(value));
      return;
    }
    auto idx = parse_u64(tokens.back());
    if (!idx || *idx > a->size() || (replace && *idx == a->size()))
      throw patch_failure("operation does not apply: index out of range: \"" + path + "\"");
    if (replace)
      (*a)[*idx] = std::move(value);
    else
      a->insert(a->begin() + static_cast<std::ptrdiff_t>(*idx), std::move(value));
    return;
  }
  throw patch_failure("operation does not apply: \"" + path + "\" is not a container");
}

/// RFC 6902 JSON patch.
json::value apply_json_patch(json::value doc, const json::value& patch) {
  const json::array* ops = patch.if_array();
  if (ops == nullptr)
    throw bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  for (const auto& opv : *ops) {
    const json::object* op = opv.if_object();
    if (op == nullptr)
      throw bad_request("invalid JSON patch operation");
    std::string name = get_string(*op, "op");
    std::string path = get_string(*op, "path");
    const json::value* value = op->if_contains("value");
    if (name == "add" || name == "replace") {
      if (value == nullptr)
        throw patch_failure("missing value in " + name + " operation");
      pointer_add(doc, path, *value, name == "replace");
    } else if (name == "remove") {
      pointer_remove(doc, path);
    } else if (name == "move") {
      json::value moved = pointer_remove(doc, get_string(*op, "from"));
      pointer_add(doc, path, std::move(moved), false);
    } else if (name == "copy") {
      auto from = parse_pointer(get_string(*op, "from"));
      json::value* src = resolve_pointer(doc, from, from.size());
      if (src == nullptr)
        throw patch_failure("copy operation does not apply: missing from path");
      pointer_add(doc, path, *src, false);
    } else if (name == "test") {
      auto tokens = parse_pointer(path);
      json::value* at = resolve_pointer(doc, tokens, tokens.size());
      if (value == nullptr || at == nullptr || *at != *value)
        throw patch_failure("testing value " + path + " failed: test failed");
    } else {
      throw bad_request("Unexpected kind: " + name);
    }
  }
  return doc;
}

// ---------------------------------------------------------- validation ---

/// RFC 1123 subdomain, what metadata.name must be for most resources.
bool valid_subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253)
    return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    auto dot = name.find('.', start);
    std::string_view label =
      name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
    if (label.empty())
      return false;
    auto alnum = [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'); };
    if (!alnum(label.front()) || !alnum(label.back()))
      return false;
    for (char ch : label)
      if (!alnum(ch) && ch != '-')
        return false;
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  return true;
}

// ---------------------------------------------------------------- HTTP ---

const char* reason_phrase(int status) {
  switch (status) {
  case 100:
    return "Continue";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 413:
    return "Request Entity Too Large";
  case 415:
    return "Unsupported Media Type";
  case 422:
    return "Unprocessable Entity";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "Status";
  }
}

using query_map = std::map<std::string, std::string>;

struct http_request {
  std::string method;
  std::string target;
  std::string path;
  query_map query;
  std::map<std::string, std::string> headers; ///< lower-case names
  std::string body;
  bool close = false;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
  std::string param(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? std::string{} : it->second;
  }
  bool has_param(const std::string& name) const { return query.count(name) != 0; }
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

http_response json_response(int status, const json::value& body) {
  return {status, "application/json", json::serialize(body), {}};
}

http_response error_response(const api_error& e) {
  http_response r = json_response(e.code, e.to_status());
  r.headers = e.headers;
  return r;
}

void consume_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  timespec zero{0, 0};
  while (sigtimedwait(&set, nullptr, &zero) > 0) {
  }
}

void block_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

/// One accepted client connection; its thread owns ssl and inbuf, other threads
/// only shutdown(fd). fd is closed by whoever joins the thread.
struct connection {
  int fd = -1;
  SSL* ssl = nullptr;
  std::thread thread;
  std::atomic<bool> done{false};
  std::string user; ///< CN of a verified client certificate
  std::string inbuf;

  long read_some(char* buf, std::size_t n) {
    if (ssl != nullptr) {
      int r = SSL_read(ssl, buf, static_cast<int>(n));
      return r > 0 ? r : -1;
    }
    while (true) {
      ssize_t r = ::recv(fd, buf, n, 0);
      if (r < 0 && errno == EINTR)
        continue;
      return r > 0 ? static_cast<long>(r) : -1;
    }
  }

  bool write_all(std::string_view data) {
    while (!data.empty()) {
      if (ssl != nullptr) {
        int r = SSL_write(ssl, data.data(), static_cast<int>(data.size()));
        if (r <= 0) {
          consume_sigpipe();
          return false;
        }
        data.remove_prefix(static_cast<std::size_t>(r));
      } else {
        ssize_t r = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
          continue;
        if (r <= 0)
          return false;
        data.remove_prefix(static_cast<std::size_t>(r));
      }
    }
    return true;
  }

  /// Appends more input to inbuf; false on EOF or error.
  bool fill() {
    char buf[16384];
    long n = read_some(buf, sizeof buf);
    if (n <= 0)
      return false;
    inbuf.append(buf, static_cast<std::size_t>(n));
    return true;
  }
};

enum class read_result { ok, eof, bad, too_large };

constexpr std::size_t max_header_bytes = 1 << 20;
constexpr std::size_t max_body_bytes = 64u << 20;

read_result read_request(connection& c, http_request& req) {
  std::size_t end;
  while ((end = c.inbuf.find("\r\n\r\n")) == std::string::npos) {
    if (c.inbuf.size() > max_header_bytes)
      return read_result::bad;
    if (!c.fill())
      return read_result::eof;
  }
  std::string head = c.inbuf.substr(0, end);
  c.inbuf.erase(0, end + 4);

  auto line_end = head.find("\r\n");
  std::string request_line = head.substr(0, line_end);
  auto sp1 = request_line.find(' ');
  auto sp2 = request_line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1)
    return read_result::bad;
  req.method = request_line.substr(0, sp1);
  req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string version = request_line.substr(sp2 + 1);
  if (version.rfind("HTTP/1.", 0) != 0)
    return read_result::bad;

  std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto next = head.find("\r\n", pos);
    std::string line = head.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    pos = next == std::string::npos ? head.size() : next + 2;
    auto colon = line.find(':');
    if (colon == std::string::npos)
      return read_result::bad;
    req.headers[to_lower(std::string(trim(line.substr(0, colon))))] =
      std::string(trim(line.substr(colon + 1)));
  }
  std::string connection_header = to_lower(req.header("connection"));
  req.close =
    version == "HTTP/1.0" ? connection_header != "keep-alive" : connection_header == "close";

  auto q = req.target.find('?');
  req.path = percent_decode(req.target.substr(0, q), false);
  if (q != std::string::npos) {
    std::string_view rest = std::string_view(req.target).substr(q + 1);
    while (!rest.empty()) {
      auto amp = rest.find('&');
      std::string_view pair = rest.substr(0, amp);
      auto eq = pair.find('=');
      std::string key = percent_decode(pair.substr(0, eq), true);
      std::string value =
        eq == std::string_view::npos ? std::string{} : percent_decode(pair.substr(eq + 1), true);
      if (!key.empty())
        req.query.emplace(std::move(key), std::move(value)); // the first value wins
      if (amp == std::string_view::npos)
        break;
      rest.remove_prefix(amp + 1);
    }
  }

  bool expect_continue = to_lower(req.header("expect")) == "100-continue";
  if (to_lower(req.header("transfer-encoding")).find("chunked") != std::string::npos) {
    if (expect_continue && !c.write_all("HTTP/1.1 100 Continue\r\n\r\n"))
      return read_result::eof;
    while (true) {
      std::size_t crlf;
      while ((crlf = c.inbuf.find("\r\n")) == std::string::npos)
        if (!c.fill())
          return read_result::eof;
      std::size_t size = 0;
      for (char ch : c.inbuf.substr(0, crlf)) {
        if (ch == ';')
          break;
        int h = hex_value(ch);
        if (h < 0)
          return read_result::bad;
        size = size * 16 + static_cast<std::size_t>(h);
        if (size > max_body_bytes)
          return read_result::too_large;
      }
      c.inbuf.erase(0, crlf + 2);
      if (size == 0) {
        // trailers, up to the empty line
        while (true) {
          while ((crlf = c.inbuf.find("\r\n")) == std::string::npos)
            if (!c.fill())
              return read_result::eof;
          bool empty = crlf == 0;
          c.inbuf.erase(0, crlf + 2);
          if (empty)
            break;
        }
        break;
      }
      while (c.inbuf.size() < size + 2)
        if (!c.fill())
          return read_result::eof;
      req.body += c.inbuf.substr(0, size);
      if (req.body.size() > max_body_bytes)
        return read_result::too_large;
      c.inbuf.erase(0, size + 2);
    }
  } else if (std::string cl = req.header("content-length"); !cl.empty()) {
    auto length = parse_u64(cl);
    if (!length)
      return read_result::bad;
    if (*length > max_body_bytes)
      return read_result::too_large;
    if (expect_continue && c.inbuf.size() < *length &&
        !c.write_all("HTTP/1.1 100 Continue\r\n\r\n"))
      return read_result::eof;
    while (c.inbuf.size() < *length)
      if (!c.fill())
        return read_result::eof;
    req.body = c.inbuf.substr(0, *length);
    c.inbuf.erase(0, *length);
  }
  return read_result::ok;
}

bool write_response(connection& c, const http_response& r, bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Cache-Control: no-cache, private\r\n";
  for (const auto& [name, value] : r.headers)
    out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (close)
    out += "Connection: close\r\n";
  out += "\r\n";
  out += r.body;
  return c.write_all(out);
}

std::string chunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out = size;
  out += data;
  out += "\r\n";
  return out;
}

// --------------------------------------------------------------- store ---

constexpr const char* added = "ADDED";
constexpr const char* modified = "MODIFIED";
constexpr const char* deleted = "DELETED";

struct resource_state {
  resource_def def;
  std::map<std::string, json::object> objects; ///< by etcd-like key "<ns>/<name>" or "<name>"
};

/// One committed change, as the watch cache keeps it.
struct change {
  std::size_t resource = 0;
  const char* type = added;
  std::uint64_t rv = 0;
  std::string key;
  json::object object;              ///< after the change; for DELETED the last state at rv
  std::optional<json::object> prev; ///< before the change (absent for ADDED)
};

struct watcher {
  std::size_t resource = 0;
  std::string ns; ///< "" = all namespaces
  label_selector labels;
  field_selector fields;
  std::uint64_t min_rv = 0; ///< live events at or below are not sent
  std::deque<std::string> queue;
  bool dropped = false;
  int event_fd = -1;
  connection* conn = nullptr;

  void signal() const {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(event_fd, &one, sizeof one);
  }

  bool matches(const json::object& obj) const {
    if (!ns.empty() && meta_string(obj, "namespace") != ns)
      return false;
    return labels.matches(obj) && fields.matches(obj);
  }
};

json::object watch_event(std::string_view type, json::object object) {
  json::object e;
  e["type"] = type;
  e["object"] = std::move(object);
  return e;
}

std::string event_line(std::string_view type, json::object object) {
  return json::serialize(watch_event(type, std::move(object))) + "\n";
}

/// What a watcher sees of a change (the watch cache's convertToWatchEvent):
/// an object that stops matching is DELETED with its previous content at the
/// event's resourceVersion, one that starts matching is ADDED.
std::optional<std::string> convert_for(const watcher& w, const change& c) {
  bool cur_passes = c.type != deleted && w.matches(c.object);
  bool old_passes = c.prev.has_value() && w.matches(*c.prev);
  if (cur_passes && !old_passes)
    return event_line(added, c.object);
  if (cur_passes && old_passes)
    return event_line(modified, c.object);
  if (!cur_passes && old_passes) {
    json::object old = *c.prev;
    ensure_object(old, "metadata")["resourceVersion"] = std::to_string(c.rv);
    return event_line(deleted, std::move(old));
  }
  return std::nullopt;
}

struct failure_rule {
  unsigned remaining = 0;
  int status = 500;
  std::string path_substring;
  int retry_after_seconds = -1;
};

struct ssl_ctx_free {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};

/// The parts of a resource URL.
struct resource_target {
  std::size_t resource = 0;
  std::string ns;
  std::string name;
  std::string subresource;
  bool legacy_watch = false;
};

} // namespace

// ================================================================== impl ===

struct fake_apiserver::impl {
  fake_apiserver_options options;
  int listen_fd = -1;
  int stop_fd = -1;
  std::uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::unique_ptr<SSL_CTX, ssl_ctx_free> ssl_ctx;
  std::thread acceptor;

  std::mutex conns_mutex;
  std::list<std::shared_ptr<connection>> conns;

  // Everything below is guarded by mutex.
  mutable std::mutex mutex;
  mutable std::condition_variable watchers_changed;
  std::vector<resource_state> resources;
  std::deque<change> history;
  std::uint64_t rv = 1;
  std::uint64_t compacted = 0;
  std::list<std::shared_ptr<watcher>> watchers;
  std::deque<failure_rule> failures;
  std::chrono::milliseconds latency{0};
  std::size_t watch_event_limit = 0;
  std::vector<request_record> log;
  std::mt19937_64 rng{std::random_device{}()};

  std::atomic<std::uint64_t> served{0};

  // ------------------------------------------------------------ lookup ---

  std::optional<std::size_t> find_resource(std::string_view group, std::string_view version,
                                           std::string_view plural) const {
    for (std::size_t i = 0; i < resources.size(); ++i) {
      const auto& d = resources[i].def;
      if (d.group == group && d.version == version && d.plural == plural)
        return i;
    }
    return std::nullopt;
  }

  std::size_t resolve(std::string_view resource) const {
    std::optional<std::size_t> found;
    for (std::size_t i = 0; i < resources.size(); ++i) {
      const auto& d = resources[i].def;
      if (resource == d.plural || resource == qualified(d)) {
        if (found && resource == d.plural)
          throw std::invalid_argument("fake_apiserver: ambiguous resource \"" +
                                      std::string(resource) + "\", qualify it with its group");
        found = i;
      }
    }
    if (!found)
      throw std::invalid_argument("fake_apiserver: unknown resource \"" + std::string(resource) +
                                  "\"");
    return *found;
  }

  // ------------------------------------------------------------ commit ---

  std::string random_uid() {
    std::uniform_int_distribution<int> hex(0, 15);
    std::string out;
    const char* digits = "0123456789abcdef";
    for (int i = 0; i < 36; ++i) {
      if (i == 8 || i == 13 || i == 18 || i == 23)
        out += '-';
      else if (i == 14)
        out += '4';
      else if (i == 19)
        out += digits[8 + hex(rng) % 4];
      else
        out += digits[hex(rng)];
    }
    return out;
  }

  std::string random_suffix() {
    static constexpr std::string_view alphabet = "bcdfghjklmnpqrstvwxz2456789";
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::string out;
    for (int i = 0; i < 5; ++i)
      out += alphabet[pick(rng)];
    return out;
  }

  /// Stores the change with the next resourceVersion and hands it to watchers.
  json::object commit(std::size_t res, const std::string& key, const char* type, json::object obj,
                      std::optional<json::object> prev) {
    ++rv;
    ensure_object(obj, "metadata")["resourceVersion"] = std::to_string(rv);
    auto& objects = resources[res].objects;
    if (type == deleted)
      objects.erase(key);
    else
      objects[key] = obj;
    change c{res, type, rv, key, obj, std::move(prev)};
    for (auto& w : watchers) {
      if (w->resource != res || w->dropped || c.rv <= w->min_rv)
        continue;
      if (auto line = convert_for(*w, c)) {
        w->queue.push_back(std::move(*line));
        w->signal();
      }
    }
    history.push_back(std::move(c));
    if (options.history_limit != 0)
      while (history.size() > options.history_limit) {
        compacted = history.front().rv;
        history.pop_front();
      }
    return obj;
  }

  /// What generation tracks: everything but metadata (and status with a status subresource).
  static json::object spec_part(const resource_def& def, const json::object& obj) {
    json::object out = obj;
    out.erase("metadata");
    out.erase("kind");
    out.erase("apiVersion");
    if (def.has_status_subresource)
      out.erase("status");
    return out;
  }

  void check_kind(const resource_def& def, const json::object& obj) const {
    std::string api_version = get_string(obj, "apiVersion");
    std::string kind = get_string(obj, "kind");
    if (!api_version.empty() && api_version != def.api_version())
      throw bad_request("the API version in the data (" + api_version +
                        ") does not match the expected API version (" + def.api_version() + ")");
    if (!kind.empty() && kind != def.kind)
      throw bad_request("the kind in the data (" + kind + ") does not match the expected kind (" +
                        def.kind + ")");
  }

  /// POST (from_http) or the create half of put().
  json::object create(std::size_t res, const std::string& ns, json::object obj, bool from_http) {
    const resource_def& def = resources[res].def;
    check_kind(def, obj);
    json::object& meta = ensure_object(obj, "metadata");
    std::string name = get_string(meta, "name");
    if (name.empty()) {
      std::string prefix = get_string(meta, "generateName");
      if (prefix.empty())
        throw invalid(def, "", "metadata.name", "FieldValueRequired",
                      "Required value: name or generateName is required");
      name = prefix + random_suffix();
      meta["name"] = name;
    }
    if (!valid_subdomain(name))
      throw invalid(def, name, "metadata.name", "FieldValueInvalid",
                    "Invalid value: \"" + name +
                      "\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                      "characters, '-' or '.', and must start and end with an alphanumeric "
                      "character");
    if (def.namespaced) {
      std::string body_ns = get_string(meta, "namespace");
      if (!body_ns.empty() && body_ns != ns)
        throw bad_request(
          "the namespace of the provided object does not match the namespace sent on the request");
      if (ns.empty())
        throw invalid(def, name, "metadata.namespace", "FieldValueRequired", "Required value");
      meta["namespace"] = ns;
    } else {
      meta.erase("namespace");
    }
    std::string key = object_key(def.namespaced ? ns : "", name);
    if (resources[res].objects.count(key) != 0)
      throw already_exists(def, name);

    if (from_http || get_string(meta, "uid").empty())
      meta["uid"] = random_uid();
    if (from_http || get_string(meta, "creationTimestamp").empty())
      meta["creationTimestamp"] = now_rfc3339();
    meta["generation"] = 1;
    meta.erase("resourceVersion");
    meta.erase("deletionTimestamp");
    if (from_http && def.has_status_subresource) {
      if (def.custom)
        obj.erase("status");
      else if (def.plural == "pods" || def.plural == "persistentvolumeclaims" ||
               def.plural == "persistentvolumes")
        obj["status"] = json::object{{"phase", "Pending"}};
    }
    return commit(res, key, added, canonical(def, obj), std::nullopt);
  }

  /// PUT of the object (status_only false) or of /status, and the write half of PATCH.
  /// `check_preconditions` false for the unconditional put() of the direct API.
  json::object update(std::size_t res, const std::string& ns, const std::string& name,
                      json::object incoming, bool status_only, bool check_preconditions = true,
                      bool keep_incoming_status = false) {
    const resource_def& def = resources[res].def;
    check_kind(def, incoming);
    std::string key = object_key(def.namespaced ? ns : "", name);
    auto it = resources[res].objects.find(key);
    if (it == resources[res].objects.end())
      throw not_found(def, name);
    const json::object& old = it->second;
    const json::object* old_meta = child_object(old, "metadata");

    std::string body_name = meta_string(incoming, "name");
    if (body_name != name)
      throw bad_request("the name of the object (" + body_name +
                        ") does not match the name on the URL (" + name + ")");
    std::string body_ns = meta_string(incoming, "namespace");
    if (def.namespaced && !body_ns.empty() && body_ns != ns)
      throw bad_request(
        "the namespace of the provided object does not match the namespace sent on the request");
    if (check_preconditions) {
      std::string want_rv = meta_string(incoming, "resourceVersion");
      if (!want_rv.empty() && want_rv != "0" && want_rv != meta_string(old, "resourceVersion"))
        throw conflict(def, name, modified_since);
      std::string want_uid = meta_string(incoming, "uid");
      if (!want_uid.empty() && want_uid != meta_string(old, "uid"))
        throw conflict(def, name,
                       "Precondition failed: UID in precondition: " + want_uid +
                         ", UID in object meta: " + meta_string(old, "uid"));
    }

    json::object next;
    if (status_only) {
      next = old;
      if (const json::value* s = incoming.if_contains("status"))
        next["status"] = *s;
      else
        next.erase("status");
      if (!def.custom) { // built-in status strategies accept label and annotation changes
        json::object& meta = ensure_object(next, "metadata");
        for (const char* field : {"labels", "annotations"}) {
          const json::object* in_meta = child_object(incoming, "metadata");
          const json::value* v = in_meta != nullptr ? in_meta->if_contains(field) : nullptr;
          if (v != nullptr)
            meta[field] = *v;
          else
            meta.erase(field);
        }
      }
    } else {
      next = std::move(incoming);
      if (def.has_status_subresource && !keep_incoming_status) {
        if (const json::value* s = old.if_contains("status"))
          next["status"] = *s;
        else
          next.erase("status");
      }
    }
    json::object& meta = ensure_object(next, "metadata");
    for (const char* field :
         {"name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp"}) {
      const json::value* v = old_meta != nullptr ? old_meta->if_contains(field) : nullptr;
      if (v != nullptr)
        meta[field] = *v;
      else
        meta.erase(field);
    }
    meta["resourceVersion"] = meta_string(old, "resourceVersion");
    if (spec_part(def, next) != spec_part(def, old)) {
      const json::value* g = old_meta != nullptr ? old_meta->if_contains("generation") : nullptr;
      std::int64_t generation = g != nullptr && g->is_int64() ? g->get_int64() : 0;
      meta["generation"] = generation + 1;
    }
    next = canonical(def, next);
    if (next == old)
      return old; // a no-op write: no new resourceVersion, no event
    json::object prev = old;
    return commit(res, key, modified, std::move(next), std::move(prev));
  }

  json::object remove(std::size_t res, const std::string& ns, const std::string& name,
                      const json::object* preconditions) {
    const resource_def& def = resources[res].def;
    std::string key = object_key(def.namespaced ? ns : "", name);
    auto it = resources[res].objects.find(key);
    if (it == resources[res].objects.end())
      throw not_found(def, name);
    if (preconditions != nullptr) {
      std::string uid = get_string(*preconditions, "uid");
      std::string want_rv = get_string(*preconditions, "resourceVersion");
      if (!uid.empty() && uid != meta_string(it->second, "uid"))
        throw conflict(def, name,
                       "Precondition failed: UID in precondition: " + uid +
                         ", UID in object meta: " + meta_string(it->second, "uid"));
      if (!want_rv.empty() && want_rv != meta_string(it->second, "resourceVersion"))
        throw conflict(
          def, name,
          "Precondition failed: ResourceVersion in precondition: " + want_rv +
            ", ResourceVersion in object meta: " + meta_string(it->second, "resourceVersion"));
    }
    json::object prev = it->second;
    return commit(res, key, deleted, prev, prev);
  }

  /// The objects of a resource as they were at `at` (undoing later history).
  std::map<std::string, json::object> snapshot(std::size_t res, std::uint64_t at) const {
    auto objects = resources[res].objects;
    for (auto it = history.rbegin(); it != history.rend() && it->rv > at; ++it) {
      if (it->resource != res)
        continue;
      if (it->type == added)
        objects.erase(it->key);
      else
        objects[it->key] = *it->prev;
    }
    return objects;
  }

  // ------------------------------------------------------------- HTTP ---

  void start_listening() {
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0)
      throw std::runtime_error(std::string("fake_apiserver: socket: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd, 128) != 0)
      throw std::runtime_error(std::string("fake_apiserver: bind/listen: ") + std::strerror(errno));
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd < 0)
      throw std::runtime_error("fake_apiserver: eventfd failed");
  }

  void setup_tls() {
    if (!options.tls)
      return;
    ssl_ctx.reset(SSL_CTX_new(TLS_server_method()));
    if (!ssl_ctx)
      throw std::runtime_error("fake_apiserver: SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ssl_ctx.get(), TLS1_2_VERSION);
    auto load_cert = [](const std::string& pem) {
      BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
      X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
      BIO_free(bio);
      if (cert == nullptr)
        throw std::runtime_error("fake_apiserver: bad certificate PEM");
      return cert;
    };
    X509* cert = load_cert(options.tls->server.cert);
    int ok = SSL_CTX_use_certificate(ssl_ctx.get(), cert);
    X509_free(cert);
    BIO* bio = BIO_new_mem_buf(options.tls->server.key.data(),
                               static_cast<int>(options.tls->server.key.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (key == nullptr || ok != 1 || SSL_CTX_use_PrivateKey(ssl_ctx.get(), key) != 1 ||
        SSL_CTX_check_private_key(ssl_ctx.get()) != 1) {
      EVP_PKEY_free(key);
      throw std::runtime_error("fake_apiserver: cannot use the server certificate and key");
    }
    EVP_PKEY_free(key);
    if (options.accept_client_certs) {
      X509* ca = load_cert(options.tls->ca.cert);
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ssl_ctx.get()), ca);
      SSL_CTX_add_client_CA(ssl_ctx.get(), ca);
      X509_free(ca);
      // like kube-apiserver's VerifyClientCertIfGiven: ask, verify what comes, do not require
      SSL_CTX_set_verify(ssl_ctx.get(), SSL_VERIFY_PEER, nullptr);
    }
  }

  void accept_loop() {
    block_sigpipe();
    while (!stopping) {
      pollfd fds[2] = {{listen_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR)
          continue;
        break;
      }
      if (stopping || (fds[1].revents & POLLIN) != 0)
        break;
      if ((fds[0].revents & POLLIN) == 0)
        continue;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0)
        continue;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto conn = std::make_shared<connection>();
      conn->fd = fd;
      std::lock_guard lock(conns_mutex);
      for (auto it = conns.begin(); it != conns.end();) {
        if ((*it)->done) {
          (*it)->thread.join();
          ::close((*it)->fd);
          it = conns.erase(it);
        } else {
          ++it;
        }
      }
      conns.push_back(conn);
      conn->thread = std::thread([this, c = conn.get()] { serve_connection(*c); });
    }
  }

  void serve_connection(connection& c) {
    block_sigpipe();
    if (ssl_ctx) {
      c.ssl = SSL_new(ssl_ctx.get());
      SSL_set_fd(c.ssl, c.fd);
      if (SSL_accept(c.ssl) == 1) {
        X509* peer = SSL_get0_peer_certificate(c.ssl);
        if (peer != nullptr && SSL_get_verify_result(c.ssl) == X509_V_OK) {
          char cn[256] = {};
          X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
          c.user = cn;
        }
        serve_requests(c);
        SSL_shutdown(c.ssl);
      }
      ERR_clear_error();
      consume_sigpipe();
      SSL_free(c.ssl);
      c.ssl = nullptr;
    } else {
      serve_requests(c);
    }
    ::shutdown(c.fd, SHUT_RDWR);
    c.done = true;
  }

  void serve_requests(connection& c) {
    while (!stopping) {
      http_request req;
      read_result r = read_request(c, req);
      if (r == read_result::eof)
        return;
      if (r != read_result::ok) {
        int code = r == read_result::too_large ? 413 : 400;
        write_response(
          c, error_response({code, reason_for_code(code), "malformed request", {}, {}}), true);
        return;
      }
      if (!serve(c, req))
        return;
    }
  }

  /// Sleeps for the configured latency; false when the server stops meanwhile.
  bool delay() {
    std::chrono::milliseconds wait;
    {
      std::lock_guard lock(mutex);
      wait = latency;
    }
    if (wait.count() <= 0)
      return true;
    pollfd fds[1] = {{stop_fd, POLLIN, 0}};
    ::poll(fds, 1, static_cast<int>(wait.count()));
    return !stopping;
  }

  void record(const http_request& req, int status, const std::string& user) {
    std::lock_guard lock(mutex);
    log.push_back({req.method, req.target, status, user});
  }

  /// Authentication like kube-apiserver with --anonymous-auth=false.
  std::string authenticate(const connection& c, const http_request& req) const {
    bool configured = !options.require_token.empty() || options.accept_client_certs;
    if (!c.user.empty())
      return c.user;
    std::string auth = req.header("authorization");
    if (!options.require_token.empty() && auth.size() > 7 &&
        to_lower(auth.substr(0, 7)) == "bearer " &&
        std::string(trim(auth.substr(7))) == options.require_token)
      return "token";
    if (configured)
      throw api_error{401, "Unauthorized", "Unauthorized", {}, {}};
    return "";
  }

  void inject_failure(const http_request& req) {
    std::lock_guard lock(mutex);
    for (auto it = failures.begin(); it != failures.end(); ++it) {
      if (req.target.find(it->path_substring) == std::string::npos)
        continue;
      failure_rule rule = *it;
      if (--it->remaining == 0)
        failures.erase(it);
      api_error e{rule.status, reason_for_code(rule.status), "", {}, {}};
      switch (rule.status) {
      case 429:
        e.message = "Too many requests, please try again later.";
        break;
      case 503:
        e.message = "the server is currently unable to handle the request";
        break;
      case 504:
        e.message = "the server was unable to return a response in the time allotted";
        break;
      default:
        e.message = "Internal error occurred: injected failure";
      }
      if (rule.retry_after_seconds >= 0) {
        e.headers.emplace_back("Retry-After", std::to_string(rule.retry_after_seconds));
        e.details["retryAfterSeconds"] = rule.retry_after_seconds;
      }
      throw e;
    }
  }

  /// Serves one request; false when the connection must close.
  bool serve(connection& c, const http_request& req) {
    ++served;
    if (!delay())
      return false;
    std::string user;
    http_response response;
    try {
      user = authenticate(c, req);
      inject_failure(req);
      std::optional<http_response> r = route(c, req, user);
      if (!r)
        return false; // a watch that ended with the connection
      if (r->status == 0)
        return !req.close; // a watch that ended cleanly and was already logged
      response = std::move(*r);
    } catch (const api_error& e) {
      response = error_response(e);
    }
    record(req, response.status, user);
    return write_response(c, response, req.close) && !req.close;
  }

  // ----------------------------------------------------------- routing ---

  std::vector<std::string> split_path(const std::string& path) const {
    std::vector<std::string> segs;
    std::size_t pos = 0;
    while (pos < path.size()) {
      auto slash = path.find('/', pos);
      if (slash == std::string::npos)
        slash = path.size();
      if (slash > pos)
        segs.push_back(path.substr(pos, slash - pos));
      pos = slash + 1;
    }
    return segs;
  }

  /// nullopt: the connection must close; status 0: the response was already streamed.
  std::optional<http_response> route(connection& c, const http_request& req,
                                     const std::string& user) {
    auto segs = split_path(req.path);
    if (req.method == "GET") {
      if (req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz")
        return http_response{200, "text/plain; charset=utf-8", "ok", {}};
      if (req.path == "/version")
        return json_response(200, version_document());
      if (req.path == "/api")
        return json_response(200, api_versions());
      if (req.path == "/apis")
        return json_response(200, api_group_list());
      if ((segs.size() == 2 && segs[0] == "api") || (segs.size() == 3 && segs[0] == "apis")) {
        auto doc = resource_list(segs[0] == "api" ? "" : segs[1], segs.back());
        if (!doc)
          throw no_such_path();
        return json_response(200, *doc);
      }
    }
    resource_target t = parse_resource_target(segs);
    const resource_def def = definition(t.resource);
    bool is_watch = t.legacy_watch;
    if (req.has_param("watch")) {
      auto flag = parse_go_bool(req.param("watch"));
      if (!flag)
        throw bad_request("invalid value for watch: \"" + req.param("watch") + "\"");
      is_watch = is_watch || *flag;
    }
    if (t.name.empty()) {
      if (req.method == "GET" && is_watch)
        return watch(c, req, user, t);
      if (req.method == "GET")
        return json_response(200, list_collection(t, req));
      if (req.method == "POST") {
        if (def.namespaced && t.ns.empty())
          throw method_not_allowed();
        json::object body = parse_body_object(req);
        std::lock_guard lock(mutex);
        return json_response(201, create(t.resource, t.ns, std::move(body), true));
      }
      if (req.method == "DELETE")
        return json_response(200, delete_collection(t, req));
      throw method_not_allowed();
    }
    bool status_only = t.subresource == "status";
    if (req.method == "GET" && is_watch) {
      if (status_only)
        throw method_not_allowed();
      return watch(c, req, user, t);
    }
    if (req.method == "GET") {
      std::lock_guard lock(mutex);
      auto& objects = resources[t.resource].objects;
      auto it = objects.find(object_key(def.namespaced ? t.ns : "", t.name));
      if (it == objects.end())
        throw not_found(def, t.name);
      return json_response(200, it->second);
    }
    if (req.method == "PUT") {
      json::object body = parse_body_object(req);
      std::lock_guard lock(mutex);
      return json_response(200, update(t.resource, t.ns, t.name, std::move(body), status_only));
    }
    if (req.method == "PATCH")
      return json_response(200, patch(t, req, status_only));
    if (req.method == "DELETE" && !status_only) {
      std::optional<json::object> options_doc;
      if (!trim(req.body).empty())
        options_doc = parse_body_object(req);
      const json::object* preconditions =
        options_doc ? child_object(*options_doc, "preconditions") : nullptr;
      std::lock_guard lock(mutex);
      json::object gone = remove(t.resource, t.ns, t.name, preconditions);
      if (def.delete_returns_object)
        return json_response(200, gone);
      json::object status;
      status["kind"] = "Status";
      status["apiVersion"] = "v1";
      status["metadata"] = json::object{};
      status["status"] = "Success";
      json::object details = resource_details(def, t.name);
      details["uid"] = meta_string(gone, "uid");
      status["details"] = details;
      return json_response(200, status);
    }
    throw method_not_allowed();
  }

  resource_def definition(std::size_t res) const {
    std::lock_guard lock(mutex);
    return resources[res].def;
  }

  resource_target parse_resource_target(const std::vector<std::string>& segs) const {
    std::string group, version;
    std::size_t at = 0;
    if (segs.size() >= 2 && segs[0] == "api") {
      version = segs[1];
      at = 2;
    } else if (segs.size() >= 3 && segs[0] == "apis") {
      group = segs[1];
      version = segs[2];
      at = 3;
    } else {
      throw no_such_path();
    }
    resource_target t;
    if (at < segs.size() && segs[at] == "watch") {
      t.legacy_watch = true;
      ++at;
    }
    std::vector<std::string> rest(segs.begin() + static_cast<std::ptrdiff_t>(at), segs.end());
    if (rest.size() >= 3 && rest[0] == "namespaces") {
      t.ns = rest[1];
      rest.erase(rest.begin(), rest.begin() + 2);
    }
    if (rest.empty() || rest.size() > 3)
      throw no_such_path();
    std::lock_guard lock(mutex);
    auto res = find_resource(group, version, rest[0]);
    if (!res)
      throw no_such_path();
    const resource_def& def = resources[*res].def;
    if (!t.ns.empty() && !def.namespaced)
      throw no_such_path();
    t.resource = *res;
    if (rest.size() >= 2)
      t.name = rest[1];
    if (rest.size() == 3) {
      if (rest[2] != "status" || !def.has_status_subresource || t.legacy_watch)
        throw no_such_path();
      t.subresource = rest[2];
    }
    if (def.namespaced && !t.name.empty() && t.ns.empty())
      throw no_such_path();
    return t;
  }

  static json::object parse_body_object(const http_request& req) {
    std::string type = to_lower(req.header("content-type"));
    type = std::string(trim(type.substr(0, type.find(';'))));
    if (!type.empty() && type != "application/json")
      throw api_error{415,
                      "UnsupportedMediaType",
                      "the body of the request was in an unknown format - accepted media types "
                      "include: application/json",
                      {},
                      {}};
    boost::system::error_code ec;
    json::value v = json::parse(req.body, ec);
    if (ec)
      throw bad_request("couldn't get version/kind; json parse error: " + ec.message());
    if (!v.is_object())
      throw bad_request("couldn't get version/kind; json parse error: not an object");
    return std::move(v.get_object());
  }

  json::object patch(const resource_target& t, const http_request& req, bool status_only) {
    std::string type = to_lower(std::string(trim(req.header("content-type"))));
    type = std::string(trim(type.substr(0, type.find(';'))));
    bool merge = type == "application/merge-patch+json";
    bool json_patch = type == "application/json-patch+json";
    if (!merge && !json_patch)
      throw unsupported_patch();
    boost::system::error_code ec;
    json::value patch_doc = json::parse(req.body, ec);
    if (ec)
      throw bad_request("error decoding patch: " + ec.message());
    std::lock_guard lock(mutex);
    const resource_def& def = resources[t.resource].def;
    auto& objects = resources[t.resource].objects;
    auto it = objects.find(object_key(def.namespaced ? t.ns : "", t.name));
    if (it == objects.end())
      throw not_found(def, t.name);
    json::value patched = merge ? merge_patch(it->second, patch_doc)
                                : apply_json_patch(json::value(it->second), patch_doc);
    if (!patched.is_object())
      throw patch_failure("the patch produced something that is not an object");
    // A resourceVersion the patch sets is a precondition; update() checks it against the store.
    return update(t.resource, t.ns, t.name, std::move(patched.get_object()), status_only);
  }

  /// Parses limit/continue/resourceVersion and returns the page.
  json::object list_collection(const resource_target& t, const http_request& req) {
    label_selector labels = parse_label_selector(req.param("labelSelector"));
    field_selector fields = parse_field_selector(req.param("fieldSelector"));
    // (0 = no limit: a plain number, since GCC 12 at -O3 wrongly reports an
    // optional's payload as maybe-uninitialized here)
    std::uint64_t limit = 0;
    if (std::string l = req.param("limit"); !l.empty()) {
      auto n = parse_i64(l);
      if (!n || *n < 0)
        throw bad_request("invalid limit: \"" + l + "\"");
      if (*n > 0)
        limit = static_cast<std::uint64_t>(*n);
    }
    std::string rv_param = req.param("resourceVersion");
    std::string match = req.param("resourceVersionMatch");
    std::string token = req.param("continue");

    std::lock_guard lock(mutex);
    const resource_def& def = resources[t.resource].def;
    std::uint64_t at = rv;
    std::string start_after;
    bool have_start = false;
    if (!token.empty()) {
      if (!rv_param.empty())
        throw bad_request("specifying resource version is not allowed when using continue");
      auto decoded = base64url_decode(token);
      boost::system::error_code ec;
      json::value doc = decoded ? json::parse(*decoded, ec) : json::value();
      const json::object* o = doc.if_object();
      const json::value* token_rv = o != nullptr ? o->if_contains("rv") : nullptr;
      if (!decoded || ec || o == nullptr || get_string(*o, "v") != "meta.k8s.io/v1" ||
          token_rv == nullptr || !token_rv->is_int64() || o->if_contains("start") == nullptr)
        throw bad_request("continue key is not valid: incorrect encoded start resourceVersion");
      at = static_cast<std::uint64_t>(token_rv->get_int64());
      if (at < compacted)
        throw expired("The provided continue parameter is too old to display a consistent list "
                      "result. You can start a new list without the continue parameter, or use "
                      "the continue token in this response to retrieve the remainder of the "
                      "results. Continuing with the provided token results in an inconsistent "
                      "list - objects that were created, modified, or deleted between the time "
                      "the first chunk was returned and now may show up in the list.");
      start_after = get_string(*o, "start");
      have_start = true;
    } else if (rv_param == "0") {
      limit = 0; // served from the watch cache, which ignores limit
    } else if (!rv_param.empty()) {
      auto n = parse_u64(rv_param);
      if (!n)
        throw bad_request("invalid resource version \"" + rv_param + "\"");
      if (match == "Exact" || (match.empty() && limit)) {
        if (*n < compacted)
          throw expired("too old resource version: " + rv_param + " (" +
                        std::to_string(compacted + 1) + ")");
        if (*n <= rv)
          at = *n;
      }
    }

    std::map<std::string, json::object> snap;
    const std::map<std::string, json::object>* objects = &resources[t.resource].objects;
    if (at != rv) {
      snap = snapshot(t.resource, at);
      objects = &snap;
    }
    json::array items;
    std::optional<std::string> last_key;
    std::uint64_t remaining = 0;
    bool more = false;
    auto it = have_start ? objects->lower_bound(start_after) : objects->begin();
    for (; it != objects->end(); ++it) {
      const json::object& obj = it->second;
      if (!t.ns.empty() && meta_string(obj, "namespace") != t.ns)
        continue;
      if (!labels.matches(obj) || !fields.matches(obj))
        continue;
      if (limit != 0 && items.size() == limit) {
        more = true;
        ++remaining;
        continue;
      }
      json::object item = obj;
      if (!def.custom) {
        item.erase("kind");
        item.erase("apiVersion");
      }
      items.push_back(std::move(item));
      last_key = it->first;
    }
    json::object meta;
    meta["resourceVersion"] = std::to_string(at);
    if (more) {
      json::object tok;
      tok["v"] = "meta.k8s.io/v1";
      tok["rv"] = at;
      tok["start"] = *last_key + std::string(1, '\0');
      meta["continue"] = base64url_encode(json::serialize(tok));
      if (labels.requirements.empty() && fields.requirements.empty())
        meta["remainingItemCount"] = remaining;
    }
    json::object out;
    out["kind"] = def.kind + "List";
    out["apiVersion"] = def.api_version();
    out["metadata"] = std::move(meta);
    out["items"] = std::move(items);
    return out;
  }

  json::object delete_collection(const resource_target& t, const http_request& req) {
    label_selector labels = parse_label_selector(req.param("labelSelector"));
    field_selector fields = parse_field_selector(req.param("fieldSelector"));
    std::lock_guard lock(mutex);
    const resource_def def = resources[t.resource].def;
    std::vector<std::pair<std::string, std::string>> doomed;
    for (const auto& [key, obj] : resources[t.resource].objects) {
      if (!t.ns.empty() && meta_string(obj, "namespace") != t.ns)
        continue;
      if (labels.matches(obj) && fields.matches(obj))
        doomed.emplace_back(meta_string(obj, "namespace"), meta_string(obj, "name"));
    }
    json::array items;
    for (const auto& [ns, name] : doomed) {
      json::object gone = remove(t.resource, ns, name, nullptr);
      if (!def.custom) {
        gone.erase("kind");
        gone.erase("apiVersion");
      }
      items.push_back(std::move(gone));
    }
    json::object out;
    out["kind"] = def.kind + "List";
    out["apiVersion"] = def.api_version();
    out["metadata"] = json::object{{"resourceVersion", std::to_string(rv)}};
    out["items"] = std::move(items);
    return out;
  }

  // ------------------------------------------------------------- watch ---

  std::string bookmark_line(const resource_def& def, bool initial_events_end) const {
    json::object meta;
    meta["resourceVersion"] = std::to_string(rv);
    if (initial_events_end)
      meta["annotations"] = json::object{{"k8s.io/initial-events-end", "true"}};
    json::object obj;
    obj["kind"] = def.kind;
    obj["apiVersion"] = def.api_version();
    obj["metadata"] = std::move(meta);
    return event_line("BOOKMARK", std::move(obj));
  }

  /// Streams a watch. nullopt when the connection must close (dropped, client
  /// gone, server stopping); a response with status 0 when it ended cleanly.
  std::optional<http_response> watch(connection& c, const http_request& req,
                                     const std::string& user, const resource_target& t) {
    auto w = std::make_shared<watcher>();
    w->resource = t.resource;
    w->ns = t.ns;
    w->labels = parse_label_selector(req.param("labelSelector"));
    w->fields = parse_field_selector(req.param("fieldSelector"));
    if (!t.name.empty())
      w->fields.requirements.push_back({"metadata.name", true, t.name});
    w->conn = &c;

    bool bookmarks = false;
    if (req.has_param("allowWatchBookmarks"))
      bookmarks = parse_go_bool(req.param("allowWatchBookmarks")).value_or(false);
    std::optional<std::chrono::seconds> timeout;
    if (std::string ts = req.param("timeoutSeconds"); !ts.empty()) {
      auto n = parse_i64(ts);
      if (!n || *n < 0)
        throw bad_request("invalid timeoutSeconds: \"" + ts + "\"");
      if (*n > 0)
        timeout = std::chrono::seconds(*n);
    }
    bool send_initial = false;
    if (req.has_param("sendInitialEvents"))
      send_initial = parse_go_bool(req.param("sendInitialEvents")).value_or(false);
    if (send_initial && req.param("resourceVersionMatch") != "NotOlderThan")
      throw api_error{422,
                      "Invalid",
                      "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
                      "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                      {},
                      {}};
    std::string rv_param = req.param("resourceVersion");
    std::optional<std::uint64_t> from;
    if (!rv_param.empty() && rv_param != "0") {
      from = parse_u64(rv_param);
      if (!from)
        throw bad_request("invalid resource version \"" + rv_param + "\"");
    }

    w->event_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->event_fd < 0)
      throw api_error{500, "InternalError", "eventfd failed", {}, {}};
    struct fd_closer {
      int fd;
      ~fd_closer() { ::close(fd); }
    } closer{w->event_fd};

    std::optional<std::string> expired_line;
    resource_def def;
    {
      std::lock_guard lock(mutex);
      def = resources[t.resource].def;
      if (!from || send_initial) {
        for (const auto& [key, obj] : resources[t.resource].objects)
          if (w->matches(obj))
            w->queue.push_back(event_line(added, obj));
        if (send_initial && bookmarks)
          w->queue.push_back(bookmark_line(def, true));
        w->min_rv = rv;
      } else if (*from < compacted) {
        api_error e = expired("too old resource version: " + rv_param + " (" +
                              std::to_string(compacted + 1) + ")");
        expired_line = event_line("ERROR", e.to_status());
      } else {
        for (const auto& ch : history)
          if (ch.resource == t.resource && ch.rv > *from)
            if (auto line = convert_for(*w, ch))
              w->queue.push_back(std::move(*line));
        w->min_rv = std::max(*from, rv);
      }
      if (!expired_line) {
        watchers.push_back(w);
        watchers_changed.notify_all();
      }
    }
    auto unregister = [&] {
      std::lock_guard lock(mutex);
      watchers.remove(w);
      watchers_changed.notify_all();
    };

    record(req, 200, user);
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Cache-Control: no-cache, private\r\nTransfer-Encoding: chunked\r\n\r\n";
    if (expired_line) {
      bool ok = c.write_all(head + chunk(*expired_line) + "0\r\n\r\n");
      return ok ? std::optional<http_response>(http_response{0, {}, {}, {}}) : std::nullopt;
    }
    if (!c.write_all(head)) {
      unregister();
      return std::nullopt;
    }

    const auto start = steady::now();
    const auto deadline = timeout ? start + *timeout : steady::time_point::max();
    auto next_bookmark = start + options.bookmark_interval;
    std::size_t sent = 0;
    auto finish = [&](bool clean) -> std::optional<http_response> {
      unregister();
      if (clean && c.write_all("0\r\n\r\n"))
        return http_response{0, {}, {}, {}};
      return std::nullopt;
    };
    while (true) {
      std::deque<std::string> batch;
      std::size_t limit;
      {
        std::lock_guard lock(mutex);
        if (w->dropped)
          break;
        batch.swap(w->queue);
        limit = watch_event_limit;
      }
      if (stopping)
        break;
      std::string out;
      bool limit_reached = false;
      for (auto& line : batch) {
        out += chunk(line);
        if (limit != 0 && ++sent >= limit) {
          limit_reached = true;
          break;
        }
      }
      if (!out.empty() && !c.write_all(out))
        break;
      if (limit_reached)
        return finish(true);
      auto now = steady::now();
      if (now >= deadline)
        return finish(true);
      if (bookmarks && now >= next_bookmark) {
        std::string line;
        {
          std::lock_guard lock(mutex);
          if (w->queue.empty())
            line = bookmark_line(def, false);
        }
        if (!line.empty() && !c.write_all(chunk(line)))
          break;
        next_bookmark = now + options.bookmark_interval;
        continue;
      }
      auto wake = std::min(deadline, bookmarks ? next_bookmark : steady::time_point::max());
      int wait_ms = -1;
      if (wake != steady::time_point::max())
        wait_ms =
          static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(wake - now).count());
      pollfd fds[3] = {{c.fd, POLLRDHUP, 0}, {w->event_fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      int n = ::poll(fds, 3, wait_ms);
      if (n < 0 && errno != EINTR)
        break;
      if ((fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0)
        break; // the client went away
      if ((fds[1].revents & POLLIN) != 0) {
        std::uint64_t count;
        [[maybe_unused]] auto r = ::read(w->event_fd, &count, sizeof count);
      }
    }
    return finish(false);
  }

  // --------------------------------------------------------- discovery ---

  json::object version_document() const {
    return json::object{{"major", "1"},
                        {"minor", "30"},
                        {"gitVersion", "v1.30.0-fake.open-local"},
                        {"gitCommit", "0000000000000000000000000000000000000000"},
                        {"gitTreeState", "clean"},
                        {"buildDate", "2024-01-01T00:00:00Z"},
                        {"goVersion", "go1.22.0"},
                        {"compiler", "gc"},
                        {"platform", "linux/amd64"}};
  }

  json::object api_versions() const {
    return json::object{
      {"kind", "APIVersions"},
      {"versions", json::array{"v1"}},
      {"serverAddressByClientCIDRs",
       json::array{json::object{{"clientCIDR", "0.0.0.0/0"},
                                {"serverAddress", "127.0.0.1:" + std::to_string(port)}}}}};
  }

  json::object api_group_list() const {
    std::lock_guard lock(mutex);
    std::map<std::string, std::vector<std::string>> groups;
    for (const auto& r : resources) {
      if (r.def.group.empty())
        continue;
      auto& versions = groups[r.def.group];
      if (std::find(versions.begin(), versions.end(), r.def.version) == versions.end())
        versions.push_back(r.def.version);
    }
    json::array list;
    for (const auto& [group, versions] : groups) {
      json::array vs;
      for (const auto& v : versions)
        vs.push_back(json::object{{"groupVersion", group + "/" + v}, {"version", v}});
      list.push_back(
        json::object{{"name", group}, {"versions", vs}, {"preferredVersion", vs.front()}});
    }
    return json::object{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", list}};
  }

  std::optional<json::object> resource_list(const std::string& group,
                                            const std::string& version) const {
    std::lock_guard lock(mutex);
    json::array list;
    for (const auto& r : resources) {
      if (r.def.group != group || r.def.version != version)
        continue;
      json::array verbs{"create", "delete", "deletecollection", "get",
                        "list",   "patch",  "update",           "watch"};
      list.push_back(json::object{{"name", r.def.plural},
                                  {"singularName", to_lower(r.def.kind)},
                                  {"namespaced", r.def.namespaced},
                                  {"kind", r.def.kind},
                                  {"verbs", verbs}});
      if (r.def.has_status_subresource)
        list.push_back(json::object{{"name", r.def.plural + "/status"},
                                    {"singularName", ""},
                                    {"namespaced", r.def.namespaced},
                                    {"kind", r.def.kind},
                                    {"verbs", json::array{"get", "patch", "update"}}});
    }
    if (list.empty())
      return std::nullopt;
    std::string gv = group.empty() ? version : group + "/" + version;
    return json::object{
      {"kind", "APIResourceList"}, {"apiVersion", "v1"}, {"groupVersion", gv}, {"resources", list}};
  }
};

// ============================================================ the class ===

fake_apiserver::fake_apiserver(fake_apiserver_options options) : impl_(std::make_unique<impl>()) {
  impl_->options = std::move(options);
  impl_->rv = impl_->options.initial_resource_version;
  if (impl_->options.register_defaults) {
    auto core = [](std::string plural, std::string kind, bool namespaced, bool status,
                   bool returns_object) {
      return resource_def{"",     "v1",  std::move(plural), std::move(kind), namespaced,
                          status, false, returns_object};
    };
    add_resource(core("nodes", "Node", false, true, false));
    add_resource(core("pods", "Pod", true, true, true));
    add_resource(core("persistentvolumeclaims", "PersistentVolumeClaim", true, true, true));
    add_resource(core("persistentvolumes", "PersistentVolume", false, true, true));
    add_resource(core("events", "Event", true, false, false));
    add_resource(
      {"storage.k8s.io", "v1", "storageclasses", "StorageClass", false, false, false, true});
    add_resource({"storage.k8s.io", "v1", "csistoragecapacities", "CSIStorageCapacity", true, false,
                  false, false});
    add_resource({"coordination.k8s.io", "v1", "leases", "Lease", true, false, false, false});
    add_resource({"csi.aliyun.com", "v1alpha1", "nodelocalstorages", "NodeLocalStorage", false,
                  true, true, false});
    add_resource({"csi.aliyun.com", "v1alpha1", "nodelocalstorageinitconfigs",
                  "NodeLocalStorageInitConfig", false, false, true, false});
    add_resource({"snapshot.storage.k8s.io", "v1", "volumesnapshots", "VolumeSnapshot", true, true,
                  true, false});
    add_resource({"snapshot.storage.k8s.io", "v1", "volumesnapshotcontents",
                  "VolumeSnapshotContent", false, true, true, false});
    add_resource({"snapshot.storage.k8s.io", "v1", "volumesnapshotclasses", "VolumeSnapshotClass",
                  false, false, true, false});
  }
  impl_->setup_tls();
  impl_->start_listening();
  impl_->acceptor = std::thread([this] { impl_->accept_loop(); });
}

fake_apiserver::~fake_apiserver() {
  impl_->stopping = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(impl_->stop_fd, &one, sizeof one);
  if (impl_->acceptor.joinable())
    impl_->acceptor.join();
  std::list<std::shared_ptr<connection>> conns;
  {
    std::lock_guard lock(impl_->conns_mutex);
    conns.swap(impl_->conns);
  }
  for (auto& c : conns)
    ::shutdown(c->fd, SHUT_RDWR);
  for (auto& c : conns) {
    c->thread.join();
    ::close(c->fd);
  }
  ::close(impl_->listen_fd);
  ::close(impl_->stop_fd);
}

std::uint16_t fake_apiserver::port() const {
  return impl_->port;
}

std::string fake_apiserver::base_url() const {
  return std::string(impl_->options.tls ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(impl_->port);
}

void fake_apiserver::add_resource(resource_def def) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->find_resource(def.group, def.version, def.plural))
    throw std::invalid_argument("fake_apiserver: resource " + qualified(def) + " registered twice");
  impl_->resources.push_back({std::move(def), {}});
}

void fake_apiserver::drop_watches() {
  std::lock_guard lock(impl_->mutex);
  for (auto& w : impl_->watchers) {
    w->dropped = true;
    ::shutdown(w->conn->fd, SHUT_RDWR);
    w->signal();
  }
}

void fake_apiserver::fail_next(unsigned count, int status, std::string path_substring,
                               int retry_after_seconds) {
  if (count == 0)
    return;
  std::lock_guard lock(impl_->mutex);
  impl_->failures.push_back({count, status, std::move(path_substring), retry_after_seconds});
}

void fake_apiserver::set_latency(std::chrono::milliseconds latency) {
  std::lock_guard lock(impl_->mutex);
  impl_->latency = latency;
}

void fake_apiserver::set_watch_event_limit(std::size_t n) {
  std::lock_guard lock(impl_->mutex);
  impl_->watch_event_limit = n;
}

void fake_apiserver::compact(std::uint64_t resource_version) {
  std::lock_guard lock(impl_->mutex);
  resource_version = std::min(resource_version, impl_->rv);
  if (resource_version <= impl_->compacted)
    return;
  impl_->compacted = resource_version;
  while (!impl_->history.empty() && impl_->history.front().rv <= resource_version)
    impl_->history.pop_front();
}

void fake_apiserver::compact_all() {
  std::uint64_t current;
  {
    std::lock_guard lock(impl_->mutex);
    current = impl_->rv;
  }
  compact(current);
}

std::uint64_t fake_apiserver::compacted_resource_version() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->compacted;
}

boost::json::object fake_apiserver::put(std::string_view resource, boost::json::object obj) {
  std::lock_guard lock(impl_->mutex);
  std::size_t res = impl_->resolve(resource);
  const resource_def& def = impl_->resources[res].def;
  std::string ns = def.namespaced ? meta_string(obj, "namespace") : std::string{};
  std::string name = meta_string(obj, "name");
  if (def.namespaced && ns.empty())
    throw std::invalid_argument("fake_apiserver::put: " + def.plural + " need metadata.namespace");
  try {
    if (!name.empty() && impl_->resources[res].objects.count(object_key(ns, name)) != 0) {
      ensure_object(obj, "metadata").erase("resourceVersion");
      return impl_->update(res, ns, name, std::move(obj), false, false, true);
    }
    return impl_->create(res, ns, std::move(obj), false);
  } catch (const api_error& e) {
    throw std::invalid_argument("fake_apiserver::put: " + e.message);
  }
}

std::optional<boost::json::object>
fake_apiserver::get(std::string_view resource, std::string_view ns, std::string_view name) const {
  std::lock_guard lock(impl_->mutex);
  std::size_t res = impl_->resolve(resource);
  const auto& state = impl_->resources[res];
  auto it = state.objects.find(object_key(state.def.namespaced ? ns : "", name));
  if (it == state.objects.end())
    return std::nullopt;
  return it->second;
}

std::vector<boost::json::object> fake_apiserver::list(std::string_view resource,
                                                      std::string_view ns) const {
  std::lock_guard lock(impl_->mutex);
  std::size_t res = impl_->resolve(resource);
  std::vector<boost::json::object> out;
  for (const auto& [key, obj] : impl_->resources[res].objects)
    if (ns.empty() || meta_string(obj, "namespace") == ns)
      out.push_back(obj);
  return out;
}

bool fake_apiserver::remove(std::string_view resource, std::string_view ns, std::string_view name) {
  std::lock_guard lock(impl_->mutex);
  std::size_t res = impl_->resolve(resource);
  const auto& state = impl_->resources[res];
  if (state.objects.count(object_key(state.def.namespaced ? ns : "", name)) == 0)
    return false;
  impl_->remove(res, std::string(ns), std::string(name), nullptr);
  return true;
}

std::string fake_apiserver::resource_version() const {
  std::lock_guard lock(impl_->mutex);
  return std::to_string(impl_->rv);
}

std::uint64_t fake_apiserver::requests_served() const {
  return impl_->served;
}

std::size_t fake_apiserver::open_watches() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->watchers.size();
}

bool fake_apiserver::wait_for_open_watches(std::size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->watchers_changed.wait_for(lock, timeout,
                                          [&] { return impl_->watchers.size() >= n; });
}

bool fake_apiserver::wait_for_watches_at_most(std::size_t n,
                                              std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->watchers_changed.wait_for(lock, timeout,
                                          [&] { return impl_->watchers.size() <= n; });
}

std::vector<request_record> fake_apiserver::request_log() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->log;
}

void fake_apiserver::clear_request_log() {
  std::lock_guard lock(impl_->mutex);
  impl_->log.clear();
}

} // namespace olocal::test
