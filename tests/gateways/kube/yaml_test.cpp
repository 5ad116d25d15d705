#include "gateways/kube/yaml.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::kube::yaml {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

struct case_ {
  std::string_view name;
  std::string_view yaml;
  std::string_view json; ///< expected value as JSON text
};

void check_cases(const std::vector<case_>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.name));
    try {
      auto got = parse(c.yaml);
      auto want = json::parse(c.json);
      EXPECT_EQ(got, want) << "got:  " << json::serialize(got)
                           << "\nwant: " << json::serialize(want);
    } catch (const parse_error& e) {
      ADD_FAILURE() << "unexpected parse_error: " << e.what();
    }
  }
}

TEST(Yaml, ScalarTyping) {
  check_cases({
    {"plain string", "hello world", R"("hello world")"},
    {"int", "42", "42"},
    {"negative int", "-17", "-17"},
    {"plus int", "+5", "5"},
    {"leading zero is decimal", "0777", "777"},
    {"hex", "0x1F", "31"},
    {"octal", "0o17", "15"},
    {"int64 min", "-9223372036854775808", "-9223372036854775808"},
    {"uint64", "18446744073709551615", "18446744073709551615"},
    {"beyond uint64 is double", "18446744073709551616", "1.8446744073709552E19"},
    {"hex beyond uint64 stays text", "0x1FFFFFFFFFFFFFFFFF", R"("0x1FFFFFFFFFFFFFFFFF")"},
    {"float", "3.25", "3.25"},
    {"float exponent", "1e3", "1E3"},
    {"float leading dot", "-.5", "-0.5"},
    {"float trailing dot", "2.", "2.0"},
    {"null", "null", "null"},
    {"Null", "Null", "null"},
    {"NULL", "NULL", "null"},
    {"tilde", "~", "null"},
    {"true", "true", "true"},
    {"True", "True", "true"},
    {"TRUE", "TRUE", "true"},
    {"false", "False", "false"},
    {"yes is a string", "yes", R"("yes")"},
    {"off is a string", "off", R"("off")"},
    {"version-like", "1.2.3", R"("1.2.3")"},
    {"0x alone", "0x", R"("0x")"},
    {"sign alone", "+", R"("+")"},
    {"quoted number stays string", "'42'", R"("42")"},
    {"double-quoted true stays string", "\"true\"", R"("true")"},
    {"quoted null stays string", "\"null\"", R"("null")"},
    {"size", "100Gi", R"("100Gi")"},
    {"url", "https://10.0.0.1:6443", R"("https://10.0.0.1:6443")"},
  });
}

TEST(Yaml, SpecialFloats) {
  auto v = parse("[.inf, -.Inf, +.INF, .nan, .NaN]");
  const auto& a = v.as_array();
  ASSERT_EQ(a.size(), 5u);
  EXPECT_TRUE(std::isinf(a[0].as_double()) && a[0].as_double() > 0);
  EXPECT_TRUE(std::isinf(a[1].as_double()) && a[1].as_double() < 0);
  EXPECT_TRUE(std::isinf(a[2].as_double()) && a[2].as_double() > 0);
  EXPECT_TRUE(std::isnan(a[3].as_double()));
  EXPECT_TRUE(std::isnan(a[4].as_double()));
  EXPECT_TRUE(parse("7").is_int64());
  EXPECT_TRUE(parse("18446744073709551615").is_uint64());
  EXPECT_TRUE(parse("7.0").is_double());
}

TEST(Yaml, QuotedScalars) {
  check_cases({
    {"single with escape", "'it''s'", R"("it's")"},
    {"single keeps backslash", R"('a\nb')", R"("a\\nb")"},
    {"double escapes", R"("a\tb\nc\"d\\e\/f")", R"("a\tb\nc\"d\\e/f")"},
    {"hex escape", R"("\x41\u00e9\U0001F600")", "\"A\u00e9\U0001F600\""},
    {"surrogate pair", R"("\ud83d\ude00")", "\"\U0001F600\""},
    {"special escapes", R"("\_\N")", "\"\u00a0\u0085\""},
    {"leading and trailing spaces kept", "'  a  '", R"("  a  ")"},
    {"single folded", "'one\n  two\n\n  three'", R"("one two\nthree")"},
    {"double folded", "\"one  \n   two\"", R"("one two")"},
    {"escaped line break", "\"abc\\\n   def\"", R"("abcdef")"},
    {"escaped space kept before break", "\"a\\ \n b\"", R"("a  b")"},
    {"empty single", "''", R"("")"},
    {"empty double", "\"\"", R"("")"},
    {"hash inside quotes", "'a # b'", R"("a # b")"},
  });
}

TEST(Yaml, BlockMappingsAndSequences) {
  check_cases({
    {"flat mapping", "a: 1\nb: two\n", R"({"a":1,"b":"two"})"},
    {"nested mapping", "a:\n  b:\n    c: d\n  e: f\ng: h",
     R"({"a":{"b":{"c":"d"},"e":"f"},"g":"h"})"},
    {"sequence", "- a\n- b\n- 3", R"(["a","b",3])"},
    {"sequence indented under key", "k:\n  - a\n  - b\n", R"({"k":["a","b"]})"},
    {"sequence at key indentation (kubectl)", "k:\n- a\n- b\nn: 1", R"({"k":["a","b"],"n":1})"},
    {"compact mapping in sequence", "- name: a\n  value: 1\n- name: b\n",
     R"([{"name":"a","value":1},{"name":"b"}])"},
    {"compact mapping with same-indent sequence",
     "- name: x\n  items:\n  - 1\n  - 2\n  other: y\n- name: z",
     R"([{"name":"x","items":[1,2],"other":"y"},{"name":"z"}])"},
    {"nested compact sequences", "- - a\n  - b\n- - c", R"([["a","b"],["c"]])"},
    {"entry on next line", "-\n  a: 1\n-\n  - x", R"([{"a":1},["x"]])"},
    {"empty values", "a:\nb: ~\nc:\n", R"({"a":null,"b":null,"c":null})"},
    {"empty entries", "-\n- \n- x", R"([null,null,"x"])"},
    {"quoted keys", "'a b': 1\n\"c:d\": 2\n\"\": 3", R"({"a b":1,"c:d":2,"":3})"},
    {"key with spaces", "my key: v", R"({"my key":"v"})"},
    {"keys stay text", "1: a\ntrue: b\nnull: c", R"({"1":"a","true":"b","null":"c"})"},
    {"colon inside values", "url: http://x:80/p\ntime: 12:30",
     R"({"url":"http://x:80/p","time":"12:30"})"},
    {"colon inside key", "a:b: c", R"({"a:b":"c"})"},
    {"top-level indented mapping", "  a: 1\n  b: 2", R"({"a":1,"b":2})"},
    {"tab after colon", "a:\tb", R"({"a":"b"})"},
    {"crlf line ends", "a: 1\r\nb:\r\n- x\r\n", R"({"a":1,"b":["x"]})"},
    {"byte order mark",
     "\xEF\xBB\xBF"
     "a: 1",
     R"({"a":1})"},
  });
}

TEST(Yaml, Comments) {
  check_cases({
    {"full-line and trailing", "# head\na: 1 # one\n  # indented comment\nb: 2\n# tail",
     R"({"a":1,"b":2})"},
    {"hash without space is content", "a: b#c", R"({"a":"b#c"})"},
    {"comment after key", "a: # nothing here\n  b: 1", R"({"a":{"b":1}})"},
    {"comment after dash", "- # note\n  x", R"(["x"])"},
    {"comment after quoted", "a: 'x' # c", R"({"a":"x"})"},
    {"comment between entries", "- a\n# c\n- b", R"(["a","b"])"},
    {"only comments", "# nothing\n   # at all\n", "null"},
  });
}

TEST(Yaml, MultiLinePlainScalars) {
  check_cases({
    {"folded continuation", "a: one\n  two\n  three\nb: x", R"({"a":"one two three","b":"x"})"},
    {"blank line keeps a newline", "a: one\n\n  two", R"({"a":"one\ntwo"})"},
    {"continuation in sequence", "- one\n  two\n- three", R"(["one two","three"])"},
    {"dash inside continuation", "a: x\n  - y", R"({"a":"x - y"})"},
    {"comment ends the scalar", "a: one # c\nb: 2", R"({"a":"one","b":2})"},
    {"top level", "one\ntwo", R"("one two")"},
  });
}

TEST(Yaml, BlockScalars) {
  check_cases({
    {"literal", "a: |\n  line 1\n  line 2\nb: x", R"({"a":"line 1\nline 2\n","b":"x"})"},
    {"literal strip", "a: |-\n  x\n  y\n", R"({"a":"x\ny"})"},
    {"literal keep", "a: |+\n  x\n\n\nb: 1", R"({"a":"x\n\n\n","b":1})"},
    {"literal clip drops trailing blanks", "a: |\n  x\n\n\nb: 1", R"({"a":"x\n","b":1})"},
    {"literal keeps inner indentation", "a: |\n  if x:\n    y\n  z\n",
     R"({"a":"if x:\n  y\nz\n"})"},
    {"literal leading empty lines", "a: |\n\n  x\n", R"({"a":"\nx\n"})"},
    {"literal keeps hash", "a: |\n  # not a comment\n", R"({"a":"# not a comment\n"})"},
    {"literal ends at less indented comment", "a: |\n  x\n# comment\nb: 1", R"({"a":"x\n","b":1})"},
    {"explicit indentation", "a: |2\n    indented\n  base\n", R"({"a":"  indented\nbase\n"})"},
    {"indicators either order", "a: |-2\n   x\nb: |2-\n   y\n", R"({"a":" x","b":" y"})"},
    {"folded", "a: >\n  one\n  two\n\n  three\n", R"({"a":"one two\nthree\n"})"},
    {"folded strip", "a: >-\n  one\n  two\n", R"({"a":"one two"})"},
    {"folded keep", "a: >+\n  one\n\n", R"({"a":"one\n\n"})"},
    {"folded more-indented lines",
     "a: >\n  folded\n  line\n\n  next\n    * bullet\n\n    * list\n  last\n",
     R"({"a":"folded line\nnext\n  * bullet\n\n  * list\nlast\n"})"},
    {"in sequence", "- |\n  x\n- >-\n  y\n  z", R"(["x\n","y z"])"},
    {"empty literal", "a: |\nb: 1", R"({"a":"","b":1})"},
    {"empty keep", "a: |+\n\nb: 1", R"({"a":"\n","b":1})"},
    {"header comment", "a: | # the text\n  x\n", R"({"a":"x\n"})"},
    {"no final line break", "a: |\n  x", R"({"a":"x"})"},
    {"at end of input", "a: |", R"({"a":""})"},
    {"top level after marker", "--- |\n  text\n", R"("text\n")"},
    {"only blank lines", "a: |-\n   \n\nb: 1", R"({"a":"","b":1})"},
    {"top level explicit indentation", "--- |1\n  x\n", R"(" x\n")"},
  });
}

TEST(Yaml, FlowCollections) {
  check_cases({
    {"sequence", "[a, 1, true, null, 'q']", R"(["a",1,true,null,"q"])"},
    {"mapping", "{a: 1, b: x}", R"({"a":1,"b":"x"})"},
    {"nested", "{a: [1, {b: c}], d: {}}", R"({"a":[1,{"b":"c"}],"d":{}})"},
    {"empty", "a: []\nb: {}", R"({"a":[],"b":{}})"},
    {"trailing comma", "[a, b, ]", R"(["a","b"])"},
    {"multi-line with comments", "a: [\n  one,  # first\n  two\n]\nb: 1",
     R"({"a":["one","two"],"b":1})"},
    {"multi-line plain folds", "[one\n two, three]", R"(["one two","three"])"},
    {"key without value", "{a, b: 1}", R"({"a":null,"b":1})"},
    {"empty value", "{a: , b: }", R"({"a":null,"b":null})"},
    {"json style", R"({"a":1,"b":[true,false],"c":"x"})", R"({"a":1,"b":[true,false],"c":"x"})"},
    {"single pair in sequence", "[a: 1, b]", R"([{"a":1},"b"])"},
    {"colon without space is plain", "[a:1, http://x]", R"(["a:1","http://x"])"},
    {"in sequence entry", "- [a, b]\n- {c: d}", R"([["a","b"],{"c":"d"}])"},
    {"quoted with commas", "['a, b', \"c]\"]", R"(["a, b","c]"])"},
    {"stays string inside", "[-1, -x, 1.5]", R"([-1,"-x",1.5])"},
  });
}

TEST(Yaml, Documents) {
  auto docs = parse_all("%YAML 1.2\n---\na: 1\n...\n---\n- x\n---\n# only a comment\n--- text\n");
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0], json::parse(R"({"a":1})"));
  EXPECT_EQ(docs[1], json::parse(R"(["x"])"));
  EXPECT_TRUE(docs[2].is_null());
  EXPECT_EQ(docs[3], json::value("text"));

  EXPECT_TRUE(parse_all("").empty());
  EXPECT_TRUE(parse_all("# nothing\n").empty());
  EXPECT_EQ(parse_all("a: 1\n---\nb: 2\n").size(), 2u);
  EXPECT_EQ(parse_all("---\n---\n").size(), 2u);
  EXPECT_EQ(parse_all("a: 1\n...\n").size(), 1u);
  EXPECT_EQ(parse_all("---\na: |\n  x\n---\nb: 1").at(0), json::parse(R"({"a":"x\n"})"));
  // A Helm-rendered stream: leading separator and "# Source:" comments.
  auto helm = parse_all("---\n# Source: chart/templates/sa.yaml\napiVersion: v1\nkind: "
                        "ServiceAccount\n---\n# Source: chart/templates/empty.yaml\n");
  ASSERT_EQ(helm.size(), 2u);
  EXPECT_EQ(helm[0].at("kind"), json::value("ServiceAccount"));
  EXPECT_TRUE(helm[1].is_null());
  EXPECT_TRUE(parse("").is_null());
  EXPECT_EQ(parse("---\na: 1\n"), json::parse(R"({"a":1})"));
}

TEST(Yaml, KubectlKubeconfig) {
  constexpr std::string_view text = R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    server: https://127.0.0.1:6443
  name: kind-kind
- cluster:
    certificate-authority: /etc/ca.crt
    server: https://10.0.0.1
    tls-server-name: kubernetes
  name: other
contexts:
- context:
    cluster: kind-kind
    namespace: open-local
    user: kind-kind
  name: kind-kind
current-context: kind-kind
kind: Config
preferences: {}
users:
- name: kind-kind
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
- name: token-user
  user:
    token: abc.def
)";
  auto expected = json::parse(R"({
    "apiVersion": "v1",
    "clusters": [
      {"cluster": {"certificate-authority-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",
                   "server": "https://127.0.0.1:6443"}, "name": "kind-kind"},
      {"cluster": {"certificate-authority": "/etc/ca.crt", "server": "https://10.0.0.1",
                   "tls-server-name": "kubernetes"}, "name": "other"}],
    "contexts": [{"context": {"cluster": "kind-kind", "namespace": "open-local",
                              "user": "kind-kind"}, "name": "kind-kind"}],
    "current-context": "kind-kind",
    "kind": "Config",
    "preferences": {},
    "users": [
      {"name": "kind-kind", "user": {"client-certificate-data": "Y2VydA==",
                                     "client-key-data": "a2V5"}},
      {"name": "token-user", "user": {"token": "abc.def"}}]
  })");
  EXPECT_EQ(parse(text), expected);
}

TEST(Yaml, CrdSnippet) {
  constexpr std::string_view text = R"(
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    controller-gen.kubebuilder.io/version: v0.5.0
  creationTimestamp: null
  name: nodelocalstorages.csi.aliyun.com
spec:
  group: csi.aliyun.com
  names:
    shortNames:
    - nls
  versions:
  - additionalPrinterColumns:
    - jsonPath: .status.nodeStorageInfo.state.type
      name: State
      type: string
    name: v1alpha1
    schema:
      openAPIV3Schema:
        description: 'APIVersion defines the versioned schema. More info: https://git.k8s.io/x#resources'
        properties:
          path:
            maxLength: 128
            minLength: 1
            pattern: ^(/[^/ ]*)+/?$
            type: string
    served: true
    storage: true
    subresources:
      status: {}
status:
  acceptedNames:
    kind: ""
    plural: ""
  conditions: []
)";
  auto v = parse(text);
  EXPECT_TRUE(v.at("metadata").at("creationTimestamp").is_null());
  EXPECT_EQ(v.at("spec").at("names").at("shortNames"), json::parse(R"(["nls"])"));
  const auto& version = v.at("spec").at("versions").at(0);
  EXPECT_EQ(version.at("additionalPrinterColumns").at(0).at("jsonPath"),
            json::value(".status.nodeStorageInfo.state.type"));
  const auto& path = version.at("schema").at("openAPIV3Schema").at("properties").at("path");
  EXPECT_EQ(path.at("pattern"), json::value("^(/[^/ ]*)+/?$"));
  EXPECT_EQ(path.at("maxLength"), json::value(128));
  EXPECT_EQ(version.at("served"), json::value(true));
  EXPECT_EQ(version.at("subresources").at("status"), json::object());
  EXPECT_EQ(v.at("status").at("acceptedNames").at("kind"), json::value(""));
  EXPECT_THAT(std::string(version.at("schema").at("openAPIV3Schema").at("description").as_string()),
              HasSubstr("More info: https://git.k8s.io/x#resources"));
}

struct error_case {
  std::string_view yaml;
  std::string_view message; ///< a part of what()
  std::size_t line;         ///< 0 = not checked
  std::size_t column;
};

TEST(Yaml, Errors) {
  const std::vector<error_case> cases = {
    {"a: &x 1", "anchors (&) are not supported", 1, 4},
    {"a: *x", "aliases (*) are not supported", 1, 4},
    {"a: !!str 1", "tags (!) are not supported", 1, 4},
    {"? a\n: b", "complex mapping keys", 1, 1},
    {"[a]: b", "complex keys", 1, 1},
    {"{[a]: b}", "complex keys", 1, 2},
    {"a: 1\nb: 2\na: 3", "duplicate mapping key \"a\"", 3, 1},
    {"{a: 1, a: 2}", "duplicate mapping key \"a\"", 1, 8},
    {"a:\n\tb: 1", "tab character used for indentation", 2, 1},
    {"a: 'open", "unterminated single-quoted scalar", 1, 4},
    {"a: \"open\nmore", "unterminated double-quoted scalar", 1, 4},
    {"a: [1, 2", "unterminated flow collection: missing ']'", 1, 4},
    {"a: {b: 1", "missing '}'", 1, 4},
    {"a: [1 2] x", "expected the end of the line", 1, 10},
    {"a: [1, , 2]", "expected a node, found ','", 1, 8},
    {"a: b: c", "mapping values are not allowed here", 1, 5},
    {"a: 1\n  b: 2", "mapping values are not allowed here", 2, 4},
    {"a:\n  b: 1\n c: 2", "bad indentation", 3, 2},
    {"- [a]\n  - b", "bad indentation: expected a sequence entry", 2, 3},
    {"a: - b", "block sequence cannot start on the same line", 1, 4},
    {"a: 1\n- b", "expected a mapping key, found a sequence entry", 2, 1},
    {"- a\nb: c", "expected the end of the document", 2, 1},
    {"a\nb: c", "mapping values are not allowed here", 2, 2},
    {"%TAG ! tag:x,2000:\n---\na", "%TAG directives are not supported", 1, 2},
    {"%YAML 2.0\n---\na", "unsupported YAML version", 1, 7},
    {"%YAML 1.2\na: 1", "expected '---' after the directives", 2, 1},
    {"a: 1\n---\nb: 2", "expected a single document", 2, 1},
    {"a: \"\\q\"", "unknown escape sequence", 1, 5},
    {"a: \"\\ud800\"", "invalid unicode escape", 1, 5},
    {"a: \"\\x4\"", "hexadecimal digits", 1, 8},
    {"a: |0\n  x", "indentation indicator", 1, 5},
    {"a: |x\n  x", "after the block scalar indicator", 1, 5},
    {"a: @b", "reserved", 1, 4},
    {"a: `b", "reserved", 1, 4},
    {"a: \x01", "control character", 1, 4},
    {"a: \xff", "invalid UTF-8", 1, 4},
    {"a: \xc3", "invalid UTF-8", 1, 4},
    {"a: \xc0\xaf", "invalid UTF-8", 1, 4},
    {"a: [x\n---\n]", "unterminated flow collection", 1, 4},
    {"a: 'x\n---\n'", "unterminated quoted scalar", 1, 4},
    {"[a, |\n  b]", "block scalars", 1, 5},
    {"{a: - b}", "block sequence entries", 1, 5},
    {": a", "empty mapping keys", 1, 1},
    {"a: 1\n\"b\nc\": 2", "a quoted mapping key must fit on one line", 2, 1},
    {"]", "expected a node, found ']'", 1, 1},
    {"|\nnot indented", "expected the end of the document", 2, 1},
    {"a: 'x'# no space", "expected the end of the line, found '#'", 1, 7},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.yaml));
    try {
      (void) parse(c.yaml);
      ADD_FAILURE() << "parsed without error";
    } catch (const parse_error& e) {
      EXPECT_THAT(e.what(), HasSubstr(std::string(c.message)));
      EXPECT_THAT(e.what(), HasSubstr("yaml: line "));
      if (c.line != 0) {
        EXPECT_EQ(e.line(), c.line) << e.what();
        EXPECT_EQ(e.column(), c.column) << e.what();
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "wrong exception type: " << e.what();
    }
  }
}

TEST(Yaml, ErrorMessageFormat) {
  try {
    (void) parse("a: 1\nb: &anchor x\n");
    FAIL();
  } catch (const parse_error& e) {
    EXPECT_STREQ(e.what(), "yaml: line 2, column 4: anchors (&) are not supported");
    EXPECT_EQ(e.message(), "anchors (&) are not supported");
  }
}

TEST(Yaml, NestingLimit) {
  auto deep_flow = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_NO_THROW(parse(deep_flow(max_depth)));
  EXPECT_THROW(parse(deep_flow(max_depth + 1)), parse_error);
  EXPECT_THROW(parse(deep_flow(100000)), parse_error);

  auto deep_block = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) {
      s += std::string(static_cast<std::size_t>(i), ' ') + "k:\n";
    }
    return s;
  };
  EXPECT_NO_THROW(parse(deep_block(max_depth)));
  EXPECT_THROW(parse(deep_block(max_depth + 1)), parse_error);

  std::string dashes;
  for (int i = 0; i < 5000; ++i) {
    dashes += "- ";
  }
  EXPECT_THROW(parse(dashes + "x"), parse_error);
}

/// Any input parses or throws parse_error: nothing else, no crash, no hang.
void expect_parse_or_parse_error(const std::string& input) {
  try {
    (void) parse_all(input);
  } catch (const parse_error&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception " << e.what() << " for input:\n" << input;
  }
}

TEST(Yaml, RandomInputNeverCrashes) {
  std::mt19937 rng(20240601);
  constexpr std::string_view alphabet = " \n\n\t-:?[]{},#&*!|>'\"%@`ab01.~\\+eE\r\x85=";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> length(0, 60);
  for (int i = 0; i < 30000; ++i) {
    std::string input;
    auto n = length(rng);
    for (std::size_t k = 0; k < n; ++k) {
      input += alphabet[pick(rng)];
    }
    expect_parse_or_parse_error(input);
  }
}

TEST(Yaml, MutatedDocumentsNeverCrash) {
  const std::vector<std::string> seeds = {
    "apiVersion: v1\nclusters:\n- cluster:\n    server: https://a:1\n  name: x\nusers:\n- name: "
    "u\n  user:\n    token: t\npreferences: {}\n",
    "a: |+\n  x\n\n  y\nb: >-\n  z\n  w\nc: [1, {d: 'e''f', g: \"h\\ti\"}]\n---\n- - k\n  - l\n",
    "k:\n- a: 1\n  b:\n  - c\n  d: \"multi\n    line\"\n# c\ne: plain\n  folded\n...\n",
  };
  std::mt19937 rng(7);
  constexpr std::string_view alphabet = " \n\t-:?[]{},#&*!|>'\"%\\a1";
  for (const auto& seed : seeds) {
    for (int i = 0; i < 4000; ++i) {
      std::string input = seed;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !input.empty(); ++e) {
        auto at = rng() % input.size();
        char c = alphabet[rng() % alphabet.size()];
        switch (rng() % 3) {
        case 0:
          input.erase(at, 1);
          break;
        case 1:
          input.insert(input.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        default:
          input[at] = c;
          break;
        }
      }
      expect_parse_or_parse_error(input);
    }
  }
}

} // namespace
} // namespace olocal::kube::yaml
