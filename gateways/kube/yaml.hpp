#pragma once

// A YAML subset parsed into boost::json values: enough for kubeconfig files,
// CustomResourceDefinitions and Helm-rendered manifests.
//
// Supported
//   - streams of documents: "---" starts one (content may follow on the same
//     line: "--- |", "--- [a]", "--- text"), "..." ends one; %YAML directives
//     before "---" are skipped, other directives (%TAG) are rejected;
//   - block mappings and block sequences, including "- key: v" entries that
//     open a nested mapping and sequences written at the same indentation as
//     their parent key (as kubectl writes them);
//   - flow sequences and flow mappings, nested, over several lines, with
//     single-pair mappings inside sequences ("[a: 1]");
//   - plain, single-quoted ('' escape) and double-quoted scalars (all YAML
//     escapes: \0 \a \b \t \n \v \f \r \e \  \" \/ \\ \N \_ \L \P \xXX \uXXXX
//     \UXXXXXXXX, escaped line breaks), multi-line scalars with line folding;
//   - literal "|" and folded ">" block scalars with chomping ("-", "+") and an
//     explicit indentation indicator (1-9), in either order;
//   - comments (full-line, and trailing after whitespace), empty values (null),
//     quoted keys, CRLF line ends, a leading byte order mark.
//
// Scalar typing (YAML 1.2 core schema), plain scalars only; quoted and block
// scalars are always strings:
//   null, Null, NULL, ~, empty   -> null
//   true/True/TRUE, false/...    -> bool
//   [-+]?[0-9]+                  -> int64; positive values beyond int64 that fit
//                                   uint64 -> uint64; larger -> double (as
//                                   go-yaml does)
//   0x[0-9a-fA-F]+, 0o[0-7]+     -> int64 / uint64; beyond uint64 -> string
//   [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)? -> double (overflow -> string)
//   [-+]?.inf/.Inf/.INF, .nan/.NaN/.NAN -> double
//   anything else                -> string
// Unlike kubectl's YAML 1.1 reader, yes/no/on/off stay strings and 0777 is
// decimal 777. Mapping keys are always strings: the key's text as written
// (after unquoting), so "1: a" has the key "1".
//
// Not supported, each a parse_error naming the feature: anchors (&), aliases
// (*), tags (!), complex keys ("? ", or a flow collection used as a key),
// %TAG directives. Duplicate keys are an error. Tabs may not indent block
// structure. A comment must follow whitespace ("'a'#x" is an error). Block
// scalar content is indented by at least one space, also at the top level (as
// in libyaml / go-yaml). Control characters (other than tab, LF, CR) and
// invalid UTF-8 are rejected.
//
// Robustness: any input either parses or throws parse_error; nesting deeper
// than max_depth is an error. The caller bounds the input size.

#include <boost/json/value.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::kube::yaml {

/// Thrown for any input the parser does not accept. what() reads
/// "yaml: line L, column C: <what was found / what was expected>".
class parse_error : public std::runtime_error {
public:
  parse_error(std::size_t line, std::size_t column, const std::string& message);

  std::size_t line() const { return line_; }              ///< 1-based
  std::size_t column() const { return column_; }          ///< 1-based, in bytes
  const std::string& message() const { return message_; } ///< without the position

private:
  std::size_t line_;
  std::size_t column_;
  std::string message_;
};

/// Collections nested deeper than this are rejected.
inline constexpr int max_depth = 256;

/// Parses a stream that holds at most one document. An empty stream (only
/// blanks and comments) gives null; two or more documents are an error.
boost::json::value parse(std::string_view text);

/// Parses every document of a stream. An explicitly empty document ("---"
/// followed by nothing) is a null entry; callers reading manifests skip those.
/// An empty stream gives an empty vector.
std::vector<boost::json::value> parse_all(std::string_view text);

} // namespace olocal::kube::yaml
