#include "gateways/kube/yaml.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <utility>

namespace olocal::kube::yaml {

namespace json = boost::json;

parse_error::parse_error(std::size_t line, std::size_t column, const std::string& message)
  : std::runtime_error("yaml: line " + std::to_string(line) + ", column " + std::to_string(column) +
                       ": " + message),
    line_(line), column_(column), message_(message) {
}

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}
bool is_break_or_end(char c) {
  return c == '\n' || c == '\0';
}
bool is_ws_or_end(char c) {
  return is_blank(c) || is_break_or_end(c);
}
bool is_flow_indicator(char c) {
  return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/// How a character reads in an error message.
std::string describe(char c) {
  if (c == '\0') {
    return "the end of the input";
  }
  if (c == '\n') {
    return "a line break";
  }
  if (c == '\t') {
    return "a tab";
  }
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) {
    return std::string("'") + c + "'";
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", u);
  return buf;
}

/// Keys and scalars quoted in messages: cut short, control characters escaped
/// so a message stays on one line.
std::string quote_for_message(std::string_view text) {
  constexpr std::size_t limit = 64;
  std::string out = "\"";
  for (char c : text.substr(0, limit)) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + (text.size() > limit ? "...\"" : "\"");
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

/// CRLF and lone CR become LF, a leading byte order mark goes; control
/// characters and invalid UTF-8 are rejected. Line and column numbers of the
/// result match the input's.
std::string normalize(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  std::size_t line = 1;
  std::size_t col = 1;
  if (in.substr(0, 3) == "\xEF\xBB\xBF") {
    i = 3;
  }
  while (i < in.size()) {
    auto c = static_cast<unsigned char>(in[i]);
    if (c == '\r' || c == '\n') {
      out += '\n';
      i += (c == '\r' && i + 1 < in.size() && in[i + 1] == '\n') ? 2 : 1;
      ++line;
      col = 1;
      continue;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      throw parse_error(line, col,
                        "control character " + describe(static_cast<char>(c)) +
                          " is not allowed in YAML text");
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      ++col;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((c & 0xe0) == 0xc0) {
      n = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 4;
      cp = c & 0x07;
    } else {
      throw parse_error(line, col, "invalid UTF-8 (" + describe(static_cast<char>(c)) + ")");
    }
    if (i + n > in.size()) {
      throw parse_error(line, col, "invalid UTF-8 (truncated sequence)");
    }
    for (std::size_t k = 1; k < n; ++k) {
      auto b = static_cast<unsigned char>(in[i + k]);
      if ((b & 0xc0) != 0x80) {
        throw parse_error(line, col, "invalid UTF-8 (bad continuation byte)");
      }
      cp = (cp << 6) | (b & 0x3f);
    }
    bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw parse_error(line, col, "invalid UTF-8 (bad code point)");
    }
    if (cp >= 0x80 && cp <= 0x9f && cp != 0x85) {
      throw parse_error(line, col,
                        "control character U+00" + std::to_string(cp) +
                          " (decimal) is not allowed in YAML text");
    }
    out.append(in.substr(i, n));
    i += n;
    col += n;
  }
  return out;
}

// ---- scalar typing (YAML 1.2 core schema) ----------------------------------

json::value make_string(std::string_view s) {
  return json::string(s.data(), s.size());
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}

std::optional<double> as_double(std::string_view text) {
  double d = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (ec != std::errc{} || ptr != text.data() + text.size()) {
    return std::nullopt;
  }
  return d;
}

std::optional<json::value> as_unsigned(std::string_view digits, int base) {
  std::uint64_t u = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), u, base);
  if (ec != std::errc{} || ptr != digits.data() + digits.size()) {
    return std::nullopt;
  }
  if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return json::value(static_cast<std::int64_t>(u));
  }
  return json::value(u);
}

std::optional<json::value> as_integer(std::string_view s) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    auto digits = s.substr(2);
    bool hex = s[1] == 'x';
    if (!all_of(
          digits, hex ? is_hex_digit : +[](char c) { return c >= '0' && c <= '7'; })) {
      return std::nullopt;
    }
    return as_unsigned(digits, hex ? 16 : 8); // beyond uint64: stays a string
  }
  bool negative = !s.empty() && s[0] == '-';
  auto digits = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? s.substr(1) : s;
  if (!all_of(digits, is_digit)) {
    return std::nullopt;
  }
  std::uint64_t u = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), u);
  if (ec == std::errc{} && ptr == digits.data() + digits.size()) {
    constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (!negative) {
      return u <= max ? json::value(static_cast<std::int64_t>(u)) : json::value(u);
    }
    if (u <= max) {
      return json::value(-static_cast<std::int64_t>(u));
    }
    if (u == max + 1) {
      return json::value(std::numeric_limits<std::int64_t>::min());
    }
  }
  // Too large for 64 bits: a double, as go-yaml resolves it.
  auto d = as_double(negative ? s : digits);
  return d ? std::optional<json::value>(json::value(*d)) : std::nullopt;
}

std::optional<double> as_float(std::string_view s) {
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  bool negative = !s.empty() && s[0] == '-';
  auto body = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? s.substr(1) : s;
  if (body == ".inf" || body == ".Inf" || body == ".INF") {
    return negative ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  }
  // (\.[0-9]+ | [0-9]+(\.[0-9]*)?) ([eE][-+]?[0-9]+)?
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < body.size() && is_digit(body[i])) {
      ++i;
    }
    return i - start;
  };
  if (i < body.size() && body[i] == '.') {
    ++i;
    if (digits() == 0) {
      return std::nullopt;
    }
  } else {
    if (digits() == 0) {
      return std::nullopt;
    }
    if (i < body.size() && body[i] == '.') {
      ++i;
      digits();
    }
  }
  if (i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    ++i;
    if (i < body.size() && (body[i] == '-' || body[i] == '+')) {
      ++i;
    }
    if (digits() == 0) {
      return std::nullopt;
    }
  }
  if (i != body.size()) {
    return std::nullopt;
  }
  auto d = as_double(body);
  if (!d) {
    return std::nullopt; // out of range: stays a string
  }
  return negative ? -*d : *d;
}

json::value resolve_plain(std::string_view s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    return nullptr;
  }
  if (s == "true" || s == "True" || s == "TRUE") {
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    return false;
  }
  if (auto i = as_integer(s)) {
    return std::move(*i);
  }
  if (auto d = as_float(s)) {
    return *d;
  }
  return make_string(s);
}

// ---- the parser ---------------------------------------------------------------

/// What introduced the node being parsed.
enum class after { key, seq_entry, doc_start };

enum class plain_stop { eol, colon, comment };

/// A flow node and, for scalars, its text (used when it turns out to be a key).
struct flow_node {
  json::value value;
  std::string key_text;
  bool scalar = false;
};

class parser {
public:
  parser(std::string text, bool single) : src_(std::move(text)), single_(single) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') {
        line_starts_.push_back(i + 1);
      }
    }
  }

  std::vector<json::value> stream() {
    std::vector<json::value> docs;
    for (;;) {
      skip_to_content();
      if (at_end()) {
        break;
      }
      if (single_ && !docs.empty()) {
        fail("expected a single document, found a second one");
      }
      bool directives = false;
      while (!at_end() && column(pos_) == 0 && peek() == '%') {
        parse_directive();
        directives = true;
        skip_to_content();
      }
      json::value doc;
      if (at_document_start()) {
        pos_ += 3;
        doc = parse_after_indicator(-1, after::doc_start);
      } else if (directives) {
        fail("expected '---' after the directives, found " + describe(peek()));
      } else if (at_document_end()) {
        pos_ += 3; // a stray "..." ends nothing
        expect_line_end();
        continue;
      } else {
        check_indentation();
        doc = parse_block_node(-1, column(pos_));
      }
      docs.push_back(std::move(doc));
      if (next_line_indent() != -1) {
        fail("expected the end of the document (a new one starts with '---'), found " +
             describe(peek()));
      }
      if (at_document_end()) {
        pos_ += 3;
        expect_line_end();
      }
    }
    return docs;
  }

private:
  std::string src_;
  std::vector<std::size_t> line_starts_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  bool single_ = false;

  class depth_guard {
  public:
    depth_guard(parser& p, std::size_t at) : p_(p) {
      if (p_.depth_ >= max_depth) {
        p_.fail(at, "collections nested deeper than " + std::to_string(max_depth) + " levels");
      }
      ++p_.depth_;
    }
    ~depth_guard() { --p_.depth_; }
    depth_guard(const depth_guard&) = delete;
    depth_guard& operator=(const depth_guard&) = delete;

  private:
    parser& p_;
  };

  // -- positions and errors --

  char peek(std::size_t ahead = 0) const {
    auto i = pos_ + ahead;
    return i < src_.size() ? src_[i] : '\0';
  }
  bool at_end() const { return pos_ >= src_.size(); }
  std::size_t line_index(std::size_t off) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
    return static_cast<std::size_t>(it - line_starts_.begin()) - 1;
  }
  std::size_t line_start(std::size_t off) const { return line_starts_[line_index(off)]; }
  int column(std::size_t off) const { return static_cast<int>(off - line_start(off)); }

  [[noreturn]] void fail(std::size_t off, const std::string& message) const {
    auto li = line_index(std::min(off, src_.size()));
    throw parse_error(li + 1, off - line_starts_[li] + 1, message);
  }
  [[noreturn]] void fail(const std::string& message) const { fail(pos_, message); }

  // -- whitespace, comments, lines --

  void skip_blanks() {
    while (is_blank(peek())) {
      ++pos_;
    }
  }
  /// A '#' starts a comment only at a line start or after whitespace.
  bool comment_allowed_here() const {
    return pos_ == 0 || is_blank(src_[pos_ - 1]) || src_[pos_ - 1] == '\n';
  }
  void skip_comment() {
    while (!is_break_or_end(peek())) {
      ++pos_;
    }
  }
  /// Skips blanks, comments and line breaks up to the next content character.
  void skip_to_content() {
    for (;;) {
      skip_blanks();
      if (peek() == '#' && comment_allowed_here()) {
        skip_comment();
      }
      if (peek() != '\n') {
        return;
      }
      ++pos_;
    }
  }
  /// The rest of the line must be blanks and perhaps a comment.
  void expect_line_end() {
    skip_blanks();
    if (peek() == '#' && comment_allowed_here()) {
      skip_comment();
    }
    if (!is_break_or_end(peek())) {
      fail("expected the end of the line, found " + describe(peek()));
    }
  }
  bool only_blanks_before_on_line() const {
    for (auto i = line_start(pos_); i < pos_; ++i) {
      if (!is_blank(src_[i])) {
        return false;
      }
    }
    return true;
  }
  void check_indentation() const {
    for (auto i = line_start(pos_); i < pos_; ++i) {
      if (src_[i] == '\t') {
        fail(i, "tab character used for indentation (only spaces may indent)");
      }
    }
  }
  bool at_marker(std::string_view marker) const {
    return column(pos_) == 0 && src_.compare(pos_, 3, marker) == 0 && is_ws_or_end(peek(3));
  }
  bool at_document_start() const { return !at_end() && at_marker("---"); }
  bool at_document_end() const { return !at_end() && at_marker("..."); }
  bool at_document_marker() const { return at_document_start() || at_document_end(); }
  bool at_sequence_entry() const { return peek() == '-' && is_ws_or_end(peek(1)); }

  /// After a node: moves to the next content line and returns its indentation,
  /// or -1 at the end of the input or at a document marker.
  int next_line_indent() {
    skip_to_content();
    if (at_end() || at_document_marker()) {
      return -1;
    }
    if (!only_blanks_before_on_line()) {
      fail("expected the end of the line, found " + describe(peek()));
    }
    check_indentation();
    return column(pos_);
  }

  // -- feature checks --

  /// Characters that cannot start a node we accept: a clear error for each.
  void reject_unsupported(bool flow) const {
    char c = peek();
    switch (c) {
    case '&':
      fail("anchors (&) are not supported");
    case '*':
      fail("aliases (*) are not supported");
    case '!':
      fail("tags (!) are not supported");
    case '@':
    case '`':
      fail(describe(c) + " is reserved and cannot start a plain scalar; quote the value");
    case '%':
      fail("unexpected '%' (directives are only allowed before '---'); quote the value");
    case '?':
      if (is_ws_or_end(peek(1)) || (flow && is_flow_indicator(peek(1)))) {
        fail("complex mapping keys ('?') are not supported");
      }
      break;
    case ':':
      if (is_ws_or_end(peek(1)) || (flow && is_flow_indicator(peek(1)))) {
        fail("expected a node, found ':' (empty mapping keys are not supported)");
      }
      break;
    case ',':
    case ']':
    case '}':
      fail("expected a node, found " + describe(c));
    default:
      break;
    }
    if (flow) {
      if (c == '|' || c == '>') {
        fail("block scalars (" + describe(c) + ") are not allowed inside flow collections");
      }
      if (c == '-' && is_ws_or_end(peek(1))) {
        fail("block sequence entries ('-') are not allowed inside flow collections");
      }
    }
  }

  // -- block structure --

  /// The node after "key:", "-" or "---": on the same line or on the lines
  /// below. parent: the column of the owning key or dash (-1 at top level).
  json::value parse_after_indicator(int parent, after kind) {
    skip_blanks();
    if (peek() == '#' || is_break_or_end(peek())) {
      int col = next_line_indent();
      if (col > parent) {
        return parse_block_node(parent, col);
      }
      if (col == parent && kind == after::key && at_sequence_entry()) {
        return parse_block_sequence(col); // "key:\n- a" as kubectl writes it
      }
      return nullptr;
    }
    if (kind == after::seq_entry) {
      return parse_block_node(parent, column(pos_)); // "- a: b", "- - c"
    }
    return parse_inline_node(parent);
  }

  /// Any block node starting here, at column col.
  json::value parse_block_node(int parent, int col) {
    reject_unsupported(false);
    char c = peek();
    if (at_sequence_entry()) {
      return parse_block_sequence(col);
    }
    if (c == '|' || c == '>') {
      return parse_block_scalar(parent);
    }
    if (c == '[' || c == '{') {
      return parse_flow_in_block();
    }
    if (mapping_key_ahead()) {
      return parse_block_mapping(col);
    }
    return parse_scalar_in_block(parent);
  }

  /// The node after "key:" or "---" on the same line: no block collection may
  /// start there.
  json::value parse_inline_node(int parent) {
    reject_unsupported(false);
    char c = peek();
    if (at_sequence_entry()) {
      fail("a block sequence cannot start on the same line as its key");
    }
    if (c == '|' || c == '>') {
      return parse_block_scalar(parent);
    }
    if (c == '[' || c == '{') {
      return parse_flow_in_block();
    }
    return parse_scalar_in_block(parent);
  }

  bool mapping_key_ahead() {
    auto save = pos_;
    bool key = false;
    if (peek() == '\'' || peek() == '"') {
      auto line = line_index(pos_);
      (void) parse_quoted();
      if (line_index(pos_) == line) {
        skip_blanks();
        key = peek() == ':' && is_ws_or_end(peek(1));
      }
    } else {
      key = scan_plain_line().second == plain_stop::colon;
    }
    pos_ = save;
    return key;
  }

  json::value parse_block_mapping(int indent) {
    depth_guard guard(*this, pos_);
    json::object object;
    for (;;) {
      auto key_pos = pos_;
      reject_unsupported(false);
      char c = peek();
      if (at_sequence_entry()) {
        fail("expected a mapping key, found a sequence entry '-'");
      }
      if (c == '|' || c == '>' || c == '[' || c == '{') {
        fail("expected a mapping key, found " + describe(c) + " (complex keys are not supported)");
      }
      std::string key;
      if (c == '\'' || c == '"') {
        auto line = line_index(pos_);
        key = parse_quoted();
        if (line_index(pos_) != line) {
          fail(key_pos, "a quoted mapping key must fit on one line");
        }
        skip_blanks();
      } else {
        auto [text, stop] = scan_plain_line();
        if (stop != plain_stop::colon) {
          fail(key_pos, "expected a mapping key followed by ':', found " + quote_for_message(text) +
                          " without ':'");
        }
        key = text;
      }
      if (!(peek() == ':' && is_ws_or_end(peek(1)))) {
        fail("expected ':' after the mapping key " + quote_for_message(key) + ", found " +
             describe(peek()));
      }
      ++pos_;
      if (object.contains(json::string_view(key.data(), key.size()))) {
        fail(key_pos, "duplicate mapping key " + quote_for_message(key));
      }
      auto value = parse_after_indicator(indent, after::key);
      object.emplace(json::string_view(key.data(), key.size()), std::move(value));
      int col = next_line_indent();
      if (col < indent) {
        break;
      }
      if (col > indent) {
        fail("bad indentation: expected a mapping key at column " + std::to_string(indent + 1) +
             " (or less), found one at column " + std::to_string(col + 1));
      }
    }
    return object;
  }

  json::value parse_block_sequence(int indent) {
    depth_guard guard(*this, pos_);
    json::array array;
    for (;;) {
      ++pos_; // '-'
      array.push_back(parse_after_indicator(indent, after::seq_entry));
      int col = next_line_indent();
      if (col > indent) {
        fail("bad indentation: expected a sequence entry '-' at column " +
             std::to_string(indent + 1) + " (or less), found " + describe(peek()) + " at column " +
             std::to_string(col + 1));
      }
      if (col < indent || !at_sequence_entry()) {
        break; // a key at the same column continues the parent mapping
      }
    }
    return array;
  }

  json::value parse_flow_in_block() {
    auto start = pos_;
    auto value = parse_flow_collection();
    skip_blanks();
    if (peek() == ':') {
      fail(start, "flow collections as mapping keys (complex keys) are not supported");
    }
    expect_line_end();
    return value;
  }

  json::value parse_scalar_in_block(int parent) {
    if (peek() == '\'' || peek() == '"') {
      auto text = parse_quoted();
      skip_blanks();
      if (peek() == ':' && is_ws_or_end(peek(1))) {
        fail("mapping values are not allowed here (a mapping cannot start on this line)");
      }
      expect_line_end();
      return make_string(text);
    }
    return resolve_plain(parse_plain_block(parent));
  }

  // -- plain scalars --

  /// One line's part of a block plain scalar, without trailing blanks; stops at
  /// the line end, at ": " or at " #".
  std::pair<std::string, plain_stop> scan_plain_line() {
    auto start = pos_;
    auto end = pos_;
    for (;;) {
      char c = peek();
      if (is_break_or_end(c)) {
        return {src_.substr(start, end - start), plain_stop::eol};
      }
      if (c == ':' && is_ws_or_end(peek(1))) {
        return {src_.substr(start, end - start), plain_stop::colon};
      }
      if (c == '#' && pos_ > start && is_blank(src_[pos_ - 1])) {
        return {src_.substr(start, end - start), plain_stop::comment};
      }
      ++pos_;
      if (!is_blank(c)) {
        end = pos_;
      }
    }
  }

  /// Where the next non-empty line starts after the line break at `from`:
  /// {offset of its first non-blank character, its line start, number of
  /// empty lines skipped}; offset npos at the end of the input.
  struct next_line {
    std::size_t content = std::string::npos;
    std::size_t start = 0;
    std::size_t empty = 0;
  };
  next_line find_next_line(std::size_t from) const {
    next_line next;
    auto q = from + 1;
    for (;;) {
      auto start = q;
      while (q < src_.size() && is_blank(src_[q])) {
        ++q;
      }
      if (q >= src_.size()) {
        return next;
      }
      if (src_[q] == '\n') {
        ++next.empty;
        ++q;
        continue;
      }
      next.content = q;
      next.start = start;
      return next;
    }
  }

  /// A plain scalar in block context, with its continuation lines (indented
  /// more than parent) folded.
  std::string parse_plain_block(int parent) {
    auto [text, stop] = scan_plain_line();
    if (stop == plain_stop::colon) {
      fail("mapping values are not allowed here (a mapping cannot start on this line)");
    }
    while (stop == plain_stop::eol && !at_end()) {
      auto next = find_next_line(pos_);
      if (next.content == std::string::npos) {
        break;
      }
      auto col = static_cast<int>(next.content - next.start);
      if (col <= parent || src_[next.content] == '#') {
        break;
      }
      auto save = pos_;
      pos_ = next.content;
      if (col == 0 && at_document_marker()) {
        pos_ = save;
        break;
      }
      auto [more, more_stop] = scan_plain_line();
      if (more_stop == plain_stop::colon) {
        fail("mapping values are not allowed here (a continuation line of a plain scalar "
             "looks like a key; check the indentation)");
      }
      text += next.empty == 0 ? std::string(" ") : std::string(next.empty, '\n');
      text += more;
      stop = more_stop;
    }
    return text;
  }

  /// A plain scalar inside a flow collection, folded over line breaks.
  std::string scan_plain_flow() {
    std::string text;
    for (;;) {
      auto start = pos_;
      auto end = pos_;
      for (;;) {
        char c = peek();
        if (is_break_or_end(c) || is_flow_indicator(c)) {
          break;
        }
        if (c == ':' && (is_ws_or_end(peek(1)) || is_flow_indicator(peek(1)))) {
          break;
        }
        if (c == '#' && pos_ > start && is_blank(src_[pos_ - 1])) {
          break;
        }
        ++pos_;
        if (!is_blank(c)) {
          end = pos_;
        }
      }
      text.append(src_, start, end - start);
      if (peek() != '\n') {
        return text;
      }
      auto next = find_next_line(pos_);
      if (next.content == std::string::npos) {
        return text;
      }
      char c = src_[next.content];
      auto save = pos_;
      pos_ = next.content;
      bool ends = is_flow_indicator(c) || c == '#' ||
                  (c == ':' && (is_ws_or_end(peek(1)) || is_flow_indicator(peek(1)))) ||
                  at_document_marker();
      if (ends) {
        pos_ = save;
        return text;
      }
      text += next.empty == 0 ? std::string(" ") : std::string(next.empty, '\n');
    }
  }

  // -- quoted scalars --

  std::string parse_quoted() {
    auto start = pos_;
    char quote = peek();
    ++pos_;
    std::string out;
    std::size_t keep = 0; // folding trims out back to here
    for (;;) {
      if (at_end()) {
        fail(start, std::string("unterminated ") + (quote == '"' ? "double" : "single") +
                      "-quoted scalar");
      }
      char c = peek();
      if (c == quote) {
        if (quote == '\'' && peek(1) == '\'') {
          out += '\'';
          pos_ += 2;
          keep = out.size();
          continue;
        }
        ++pos_;
        return out;
      }
      if (c == '\n') {
        fold_quoted_break(out, keep, start, false);
        continue;
      }
      if (quote == '"' && c == '\\') {
        if (peek(1) == '\n') {
          ++pos_;
          fold_quoted_break(out, keep, start, true);
          continue;
        }
        parse_escape(out);
        keep = out.size();
        continue;
      }
      out += c;
      ++pos_;
      if (!is_blank(c)) {
        keep = out.size();
      }
    }
  }

  /// At a line break inside quotes: one break folds to a space, n empty lines
  /// give n newlines; an escaped break adds nothing.
  void fold_quoted_break(std::string& out, std::size_t& keep, std::size_t start, bool escaped) {
    if (!escaped) {
      out.resize(keep);
    }
    std::size_t empty = 0;
    ++pos_;
    for (;;) {
      if (at_document_marker()) {
        fail(start, "unterminated quoted scalar (a document marker is inside it)");
      }
      skip_blanks();
      if (peek() != '\n') {
        break;
      }
      ++empty;
      ++pos_;
    }
    if (empty > 0) {
      out.append(empty, '\n');
    } else if (!escaped) {
      out += ' ';
    }
    keep = out.size();
  }

  std::uint32_t read_hex(int digits) {
    std::uint32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      char c = peek();
      if (!is_hex_digit(c)) {
        fail("expected " + std::to_string(digits) + " hexadecimal digits in the escape, found " +
             describe(c));
      }
      value = value * 16 + static_cast<std::uint32_t>(
                             is_digit(c) ? c - '0' : (c >= 'a' ? c - 'a' + 10 : c - 'A' + 10));
      ++pos_;
    }
    return value;
  }

  void parse_escape(std::string& out) {
    auto at = pos_;
    ++pos_; // backslash
    char e = peek();
    if (at_end()) {
      fail(at, "unterminated escape sequence");
    }
    ++pos_;
    switch (e) {
    case '0':
      out += '\0';
      return;
    case 'a':
      out += '\a';
      return;
    case 'b':
      out += '\b';
      return;
    case 't':
    case '\t':
      out += '\t';
      return;
    case 'n':
      out += '\n';
      return;
    case 'v':
      out += '\v';
      return;
    case 'f':
      out += '\f';
      return;
    case 'r':
      out += '\r';
      return;
    case 'e':
      out += '\x1b';
      return;
    case ' ':
    case '"':
    case '/':
    case '\\':
      out += e;
      return;
    case 'N':
      append_utf8(out, 0x85);
      return;
    case '_':
      append_utf8(out, 0xa0);
      return;
    case 'L':
      append_utf8(out, 0x2028);
      return;
    case 'P':
      append_utf8(out, 0x2029);
      return;
    case 'x':
      append_utf8(out, read_hex(2));
      return;
    case 'u':
    case 'U': {
      auto cp = read_hex(e == 'u' ? 4 : 8);
      if (e == 'u' && cp >= 0xd800 && cp <= 0xdbff && peek() == '\\' && peek(1) == 'u') {
        pos_ += 2;
        auto low = read_hex(4);
        if (low < 0xdc00 || low > 0xdfff) {
          fail(at, "invalid unicode escape: a high surrogate must be followed by a low one");
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
      }
      if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
        fail(at, "invalid unicode escape (lone surrogate or beyond U+10FFFF)");
      }
      append_utf8(out, cp);
      return;
    }
    default:
      fail(at, "unknown escape sequence '\\" + std::string(1, e) + "'");
    }
  }

  // -- block scalars --

  json::value parse_block_scalar(int parent) {
    bool folded = peek() == '>';
    ++pos_;
    enum class chomping { clip, strip, keep } chomp = chomping::clip;
    bool chomp_seen = false;
    int explicit_indent = 0;
    for (int i = 0; i < 2; ++i) {
      char c = peek();
      if ((c == '-' || c == '+') && !chomp_seen) {
        chomp = c == '-' ? chomping::strip : chomping::keep;
        chomp_seen = true;
      } else if (c >= '1' && c <= '9' && explicit_indent == 0) {
        explicit_indent = c - '0';
      } else if (c == '0') {
        fail("the indentation indicator of a block scalar must be 1-9");
      } else {
        break;
      }
      ++pos_;
    }
    if (!is_ws_or_end(peek())) {
      fail("expected a chomping indicator (+ or -), an indentation indicator (1-9) or the "
           "end of the line after the block scalar indicator, found " +
           describe(peek()));
    }
    expect_line_end();
    if (at_end()) {
      return json::string();
    }
    ++pos_; // the header's line break

    // Content is indented at least one space, also at the top level (as
    // libyaml and go-yaml require).
    int indent = 0;
    if (explicit_indent > 0) {
      indent = std::max(parent, 0) + explicit_indent;
    } else {
      // The most spaces on the leading lines, the first non-empty one
      // included, set the indentation (libyaml's rule).
      indent = std::max(parent + 1, 1);
      for (auto q = pos_; q < src_.size();) {
        auto start = q;
        while (q < src_.size() && src_[q] == ' ') {
          ++q;
        }
        indent = std::max(indent, static_cast<int>(q - start));
        if (q >= src_.size() || src_[q] != '\n') {
          break;
        }
        ++q;
      }
    }

    std::vector<std::string_view> lines; // "" for empty lines
    bool last_break = true;              // the last line ended with a line break
    while (!at_end()) {
      auto start = pos_;
      if (indent == 0 && at_document_marker()) {
        break;
      }
      int spaces = 0;
      while (spaces < indent && peek() == ' ') {
        ++pos_;
        ++spaces;
      }
      if (spaces < indent) {
        auto q = pos_;
        while (q < src_.size() && is_blank(src_[q])) {
          ++q;
        }
        if (q >= src_.size()) {
          pos_ = q;
          break;
        }
        if (src_[q] != '\n') {
          pos_ = start; // less indented: the scalar ends before this line
          break;
        }
        lines.emplace_back();
        pos_ = q + 1;
        continue;
      }
      auto content = pos_;
      while (!is_break_or_end(peek())) {
        ++pos_;
      }
      if (at_end()) {
        if (pos_ > content) {
          lines.emplace_back(src_.data() + content, pos_ - content);
          last_break = false;
        }
        break;
      }
      lines.emplace_back(src_.data() + content, pos_ - content);
      ++pos_;
    }

    auto body = lines.size();
    while (body > 0 && lines[body - 1].empty()) {
      --body;
    }
    std::string out;
    if (!folded) {
      for (std::size_t i = 0; i < body; ++i) {
        if (i > 0) {
          out += '\n';
        }
        out += lines[i];
      }
    } else {
      bool first = true;
      bool previous_normal = false;
      std::size_t empty = 0;
      for (std::size_t i = 0; i < body; ++i) {
        if (lines[i].empty()) {
          ++empty;
          continue;
        }
        bool normal = !is_blank(lines[i][0]);
        if (first) {
          out.append(empty, '\n');
        } else if (previous_normal && normal) {
          out += empty == 0 ? std::string(" ") : std::string(empty, '\n');
        } else {
          out.append(empty + 1, '\n');
        }
        out += lines[i];
        first = false;
        previous_normal = normal;
        empty = 0;
      }
    }
    auto trailing = lines.size() - body;
    bool content_break = body > 0 && (body < lines.size() || last_break);
    if (chomp != chomping::strip && content_break) {
      out += '\n';
    }
    if (chomp == chomping::keep) {
      out.append(trailing, '\n');
    }
    return make_string(out);
  }

  // -- flow collections --

  void skip_flow_space(std::size_t open, char close) {
    for (;;) {
      skip_blanks();
      if (peek() == '#' && comment_allowed_here()) {
        skip_comment();
      }
      if (at_end()) {
        fail(open, std::string("unterminated flow collection: missing '") + close + "'");
      }
      if (peek() != '\n') {
        return;
      }
      ++pos_;
      if (at_document_marker()) {
        fail(open, std::string("unterminated flow collection: missing '") + close +
                     "' before the document marker");
      }
    }
  }

  flow_node parse_flow_node() {
    reject_unsupported(true);
    char c = peek();
    if (c == '[' || c == '{') {
      return {parse_flow_collection(), {}, false};
    }
    if (c == '\'' || c == '"') {
      auto text = parse_quoted();
      return {make_string(text), text, true};
    }
    auto text = scan_plain_flow();
    return {resolve_plain(text), text, true};
  }

  json::value parse_flow_collection() {
    auto open = pos_;
    depth_guard guard(*this, open);
    bool is_sequence = peek() == '[';
    char close = is_sequence ? ']' : '}';
    ++pos_;
    json::array array;
    json::object object;
    for (;;) {
      skip_flow_space(open, close);
      if (peek() == close) {
        ++pos_;
        break;
      }
      auto entry = pos_;
      if (!is_sequence && (peek() == '[' || peek() == '{')) {
        fail("flow collections as mapping keys (complex keys) are not supported");
      }
      auto node = parse_flow_node();
      skip_flow_space(open, close);
      json::value value;
      bool pair = false;
      if (peek() == ':') {
        if (!node.scalar) {
          fail(entry, "flow collections as mapping keys (complex keys) are not supported");
        }
        pair = true;
        ++pos_;
        skip_flow_space(open, close);
        if (peek() != ',' && peek() != close) {
          value = parse_flow_node().value;
          skip_flow_space(open, close);
        }
      }
      if (is_sequence) {
        if (pair) {
          json::object single;
          single.emplace(node.key_text, std::move(value));
          array.push_back(std::move(single));
        } else {
          array.push_back(std::move(node.value));
        }
      } else {
        if (object.contains(node.key_text)) {
          fail(entry, "duplicate mapping key " + quote_for_message(node.key_text));
        }
        object.emplace(node.key_text, std::move(value));
      }
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == close) {
        ++pos_;
        break;
      }
      fail(std::string("expected ',' or '") + close + "' in the flow collection, found " +
           describe(peek()));
    }
    if (is_sequence) {
      return array;
    }
    return object;
  }

  // -- directives --

  void parse_directive() {
    ++pos_; // '%'
    auto start = pos_;
    while (!is_ws_or_end(peek())) {
      ++pos_;
    }
    auto name = src_.substr(start, pos_ - start);
    if (name == "TAG") {
      fail(start, "%TAG directives are not supported (tags are not supported)");
    }
    if (name == "YAML") {
      skip_blanks();
      auto version_start = pos_;
      while (!is_ws_or_end(peek())) {
        ++pos_;
      }
      auto version = src_.substr(version_start, pos_ - version_start);
      if (version.size() < 3 || version.substr(0, 2) != "1." ||
          !all_of(std::string_view(version).substr(2), is_digit)) {
        fail(version_start,
             "unsupported YAML version " + quote_for_message(version) + " (expected 1.x)");
      }
      expect_line_end();
      return;
    }
    skip_comment(); // reserved directives are ignored
  }
};

} // namespace

json::value parse(std::string_view text) {
  parser p(normalize(text), true);
  auto docs = p.stream();
  if (docs.empty()) {
    return nullptr;
  }
  return std::move(docs.front());
}

std::vector<json::value> parse_all(std::string_view text) {
  parser p(normalize(text), false);
  return p.stream();
}

} // namespace olocal::kube::yaml
