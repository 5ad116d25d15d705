#include "actors/backends/lvm.hpp"

#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <utility>

namespace olocal::lvm {

namespace json = boost::json;

namespace {

// -- limits of lvm2 (2.03) -------------------------------------------------------

constexpr size_t max_name_length = 127;        ///< NAME_LEN - 1
constexpr size_t max_vg_lv_length = 124;       ///< len(vg) + len(lv) of a new LV
constexpr size_t max_tag_length = 1024;        ///< lvm(8)
constexpr size_t max_device_length = 4095;     ///< PATH_MAX - 1
constexpr uint32_t max_stripes = 128;          ///< MAX_STRIPES
constexpr uint64_t min_stripe_size = 4096;     ///< one page
constexpr size_t max_shown_length = 80;        ///< of a value quoted in a message
constexpr size_t max_stderr_line_length = 400; ///< of an lvm2 line quoted in a message

/// Prefixes and infixes lvm2 reserves for its own LVs (lvm(8), VALID NAMES).
constexpr std::array reserved_lv_prefixes = {std::string_view{"pvmove"},
                                             std::string_view{"snapshot"}};
constexpr std::array reserved_lv_infixes = {
  std::string_view{"_cdata"},   std::string_view{"_cmeta"},  std::string_view{"_corig"},
  std::string_view{"_iorig"},   std::string_view{"_mimage"}, std::string_view{"_mlog"},
  std::string_view{"_pmspare"}, std::string_view{"_rimage"}, std::string_view{"_rmeta"},
  std::string_view{"_tdata"},   std::string_view{"_tmeta"},  std::string_view{"_vdata"},
  std::string_view{"_vorigin"}, std::string_view{"_wcorig"},
};

// -- small text helpers ----------------------------------------------------------

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_name_char(char c) {
  return is_alnum(c) || c == '+' || c == '_' || c == '.' || c == '-';
}

bool is_tag_char(char c) {
  switch (c) {
  case '_':
  case '+':
  case '.':
  case '-':
  case '/':
  case '=':
  case '!':
  case ':':
  case '&':
  case '#':
    return true;
  default:
    return is_alnum(c);
  }
}

/// One character for a message: itself if printable, else \xNN.
std::string shown_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f)
    return std::string{'\''} + c + '\'';
  static constexpr char hex[] = "0123456789abcdef";
  return std::string{"'\\x"} + hex[u >> 4] + hex[u & 0xf] + '\'';
}

/// A value for a message: quoted, control bytes escaped, long values cut.
std::string shown(std::string_view value) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  size_t n = 0;
  for (char c : value) {
    if (n++ == max_shown_length) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

caf::error invalid(std::string_view field, std::string_view value, std::string_view reason) {
  std::string msg{field};
  msg += ' ';
  msg += shown(value);
  msg += ": ";
  msg += reason;
  return make_error(errc::invalid_argument, std::move(msg));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string lowercase(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string join(const std::vector<std::string>& parts, char separator) {
  std::string out;
  for (auto& part : parts) {
    if (!out.empty())
      out += separator;
    out += part;
  }
  return out;
}

/// Strips the brackets lvm2 puts around internal LV names ("[pool_tdata]").
std::string_view unbracket(std::string_view name, bool* was_bracketed = nullptr) {
  bool bracketed = name.size() >= 2 && name.front() == '[' && name.back() == ']';
  if (was_bracketed)
    *was_bracketed = bracketed;
  return bracketed ? name.substr(1, name.size() - 2) : name;
}

// -- argv helpers ----------------------------------------------------------------

std::string bytes_arg(uint64_t bytes) {
  return std::to_string(bytes) + "b";
}

caf::error validate_size(uint64_t bytes, std::string_view field) {
  if (bytes == 0)
    return make_error(errc::invalid_argument, std::string{field} + " must be positive");
  if (bytes % 512 != 0)
    return make_error(errc::invalid_argument, std::string{field} + " " + std::to_string(bytes) +
                                                " is not a multiple of 512 bytes");
  return {};
}

caf::error validate_tags(const std::vector<std::string>& tags) {
  for (auto& tag : tags)
    if (auto err = validate_tag(tag))
      return err;
  return {};
}

/// Checks a new LV's name, its VG's name and lvm2's limit on "vg/lv".
caf::error validate_new_lv(std::string_view vg, std::string_view name, std::string_view field,
                           size_t reserved_suffix = 0) {
  if (auto err = validate_vg_name(vg))
    return err;
  if (auto err = validate_lv_name(name, field))
    return err;
  if (vg.size() + name.size() + reserved_suffix > max_vg_lv_length) {
    std::string reason = "together with vg name " + shown(vg) + " longer than lvm2 allows (" +
                         std::to_string(max_vg_lv_length - reserved_suffix) +
                         " characters for both)";
    return invalid(field, name, reason);
  }
  return {};
}

caf::error validate_existing_lv(std::string_view vg, std::string_view name,
                                std::string_view field = "lv name") {
  if (auto err = validate_vg_name(vg))
    return err;
  return validate_lv_name(name, field);
}

caf::error validate_devices(const std::vector<std::string>& devices) {
  if (devices.empty())
    return make_error(errc::invalid_argument, "devices: at least one device is required");
  for (auto& device : devices)
    if (auto err = validate_device(device))
      return err;
  return {};
}

void add_tags(std::vector<std::string>& argv, std::string_view option,
              const std::vector<std::string>& tags) {
  for (auto& tag : tags) {
    argv.emplace_back(option);
    argv.push_back(tag);
  }
}

std::string full_name(std::string_view vg, std::string_view lv) {
  std::string out{vg};
  out += '/';
  out += lv;
  return out;
}

/// Prompt handling of the commands that may initialize devices: -qq answers
/// every prompt "no" (never wipes), -f -y overrides signatures of orphans.
void add_force(std::vector<std::string>& argv, bool force) {
  if (force) {
    argv.emplace_back("-f");
    argv.emplace_back("-y");
  } else {
    argv.emplace_back("-qq");
  }
}

// -- report parsing --------------------------------------------------------------

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty() || text.front() == '-' || text.front() == '+')
    return false;
  auto dot = text.find('.');
  auto whole = text.substr(0, dot);
  if (whole.empty())
    return false;
  if (dot != std::string_view::npos) {
    // "1024.00": a byte count printed with a zero fraction is still exact.
    auto fraction = text.substr(dot + 1);
    if (fraction.empty() || fraction.find_first_not_of('0') != std::string_view::npos)
      return false;
  }
  auto [end, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), out);
  return ec == std::errc{} && end == whole.data() + whole.size();
}

bool parse_i64(std::string_view text, int64_t& out) {
  if (text.empty() || text.front() == '+')
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

bool parse_double(std::string_view text, double& out) {
  if (text.empty() || text.front() == '+')
    return false;
  auto [end, ec] =
    std::from_chars(text.data(), text.data() + text.size(), out, std::chars_format::fixed);
  return ec == std::errc{} && end == text.data() + text.size() && std::isfinite(out);
}

std::vector<std::string> split_tags(std::string_view text) {
  std::vector<std::string> tags;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto tag = trim(text.substr(0, comma));
    if (!tag.empty())
      tags.emplace_back(tag);
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return tags;
}

std::string_view view_of(const json::string& s) {
  return {s.data(), s.size()};
}

/// Reads the fields of one report row; remembers the first problem.
class row_reader {
public:
  row_reader(const json::object& row, std::string_view report, size_t index)
    : row_(row), report_(report), index_(index) {}

  const caf::error& error() const { return error_; }

  /// A text field; `required` refuses "".
  std::string text(std::string_view key, bool required = false) {
    auto* v = find(key);
    if (!v)
      return {};
    if (!v->is_string()) {
      fail(key, "is not a string");
      return {};
    }
    std::string value{view_of(v->get_string())};
    if (required && value.empty())
      fail(key, "is empty");
    return value;
  }

  /// A byte count or other non-negative integer.
  uint64_t unsigned_number(std::string_view key, uint64_t max = ~uint64_t{0}) {
    auto* v = find(key);
    if (!v)
      return 0;
    uint64_t out = 0;
    bool ok = false;
    if (v->is_string()) {
      ok = parse_u64(view_of(v->get_string()), out);
      if (!ok) {
        fail(key, "is not a non-negative integer: " + shown(view_of(v->get_string())));
        return 0;
      }
    } else if (v->is_uint64()) {
      out = v->get_uint64();
      ok = true;
    } else if (v->is_int64() && v->get_int64() >= 0) {
      out = static_cast<uint64_t>(v->get_int64());
      ok = true;
    } else if (v->is_double()) {
      double d = v->get_double();
      ok = d >= 0 && d < 18446744073709551616.0 && std::floor(d) == d;
      out = ok ? static_cast<uint64_t>(d) : 0;
    }
    if (!ok) {
      fail(key, "is not a non-negative integer");
      return 0;
    }
    if (out > max) {
      fail(key, "is out of range: " + std::to_string(out));
      return 0;
    }
    return out;
  }

  /// A signed integer ("-1" for the kernel numbers of an inactive LV).
  int32_t signed_number(std::string_view key) {
    auto* v = find(key);
    if (!v)
      return -1;
    int64_t out = 0;
    bool ok = false;
    if (v->is_string())
      ok = parse_i64(view_of(v->get_string()), out);
    else if (v->is_int64())
      ok = (out = v->get_int64(), true);
    else if (v->is_uint64())
      ok = v->get_uint64() <= uint64_t{std::numeric_limits<int32_t>::max()} &&
           (out = static_cast<int64_t>(v->get_uint64()), true);
    if (!ok || out < std::numeric_limits<int32_t>::min() ||
        out > std::numeric_limits<int32_t>::max()) {
      fail(key, v->is_string() ? "is not an integer: " + shown(view_of(v->get_string()))
                               : std::string{"is not an integer"});
      return -1;
    }
    return static_cast<int32_t>(out);
  }

  /// A percentage: "" or null (not reported) gives -1.
  double percent(std::string_view key) {
    auto* v = find(key);
    if (!v || v->is_null())
      return -1;
    if (v->is_string()) {
      auto text = view_of(v->get_string());
      if (text.empty())
        return -1;
      double out = 0;
      if (!parse_double(text, out)) {
        fail(key, "is not a percentage: " + shown(text));
        return -1;
      }
      return out;
    }
    if (v->is_double())
      return v->get_double();
    if (v->is_int64())
      return static_cast<double>(v->get_int64());
    if (v->is_uint64())
      return static_cast<double>(v->get_uint64());
    fail(key, "is not a percentage");
    return -1;
  }

  /// Tags: "a,b,c" (or a JSON array of strings).
  std::vector<std::string> tags(std::string_view key) {
    auto* v = find(key);
    if (!v)
      return {};
    if (v->is_string())
      return split_tags(view_of(v->get_string()));
    if (v->is_array()) {
      std::vector<std::string> out;
      for (auto& item : v->get_array()) {
        if (!item.is_string()) {
          fail(key, "holds a value that is not a string");
          return {};
        }
        if (!item.get_string().empty())
          out.emplace_back(view_of(item.get_string()));
      }
      return out;
    }
    fail(key, "is not a tag list");
    return {};
  }

private:
  const json::value* find(std::string_view key) {
    auto* v = row_.if_contains(key);
    if (!v)
      fail(key, "is missing");
    return v;
  }

  void fail(std::string_view key, std::string what) {
    if (error_)
      return;
    std::string msg{report_};
    msg += " report, row ";
    msg += std::to_string(index_ + 1);
    msg += ": field \"";
    msg += key;
    msg += "\" ";
    msg += what;
    error_ = make_error(errc::parse_error, std::move(msg));
  }

  const json::object& row_;
  std::string_view report_;
  size_t index_;
  caf::error error_;
};

caf::error report_error(std::string_view report, std::string what) {
  return make_error(errc::parse_error, std::string{report} + " report: " + what);
}

/// Parses {"report":[{<key>:[{...}, ...]}, ...]} and calls `read_row` for
/// every row object.
template <class T, class ReadRow>
caf::expected<std::vector<T>> parse_report(std::string_view text, std::string_view report,
                                           std::string_view key, ReadRow read_row) {
  boost::system::error_code ec;
  json::value root;
  try {
    root = json::parse(json::string_view{text.data(), text.size()}, ec);
  } catch (const std::exception& e) { // only allocation failures
    return report_error(report, std::string{"cannot be read: "} + e.what());
  }
  if (ec)
    return report_error(report, "not JSON: " + ec.message());
  if (!root.is_object())
    return report_error(report, "the document is not an object");
  auto* sections = root.get_object().if_contains("report");
  if (!sections)
    return report_error(report, "no \"report\" member");
  if (!sections->is_array())
    return report_error(report, "\"report\" is not an array");
  std::vector<T> result;
  bool found = false;
  size_t index = 0;
  for (auto& section : sections->get_array()) {
    if (!section.is_object())
      return report_error(report, "an element of \"report\" is not an object");
    auto* rows = section.get_object().if_contains(key);
    if (!rows)
      continue;
    found = true;
    if (!rows->is_array())
      return report_error(report, "\"" + std::string{key} + "\" is not an array");
    for (auto& row : rows->get_array()) {
      if (!row.is_object())
        return report_error(report, "row " + std::to_string(index + 1) + " is not an object");
      row_reader reader{row.get_object(), report, index};
      T item = read_row(reader);
      if (reader.error())
        return reader.error();
      result.push_back(std::move(item));
      ++index;
    }
  }
  if (!found)
    return report_error(report, "no \"" + std::string{key} + "\" list in \"report\"");
  return result;
}

// -- failure classification ------------------------------------------------------

/// A line of lvm2's stderr matches when it contains all (lowercase) parts.
struct failure_rule {
  errc code;
  std::array<std::string_view, 2> parts;
};

// Checked in this order, each against every line, so that a specific cause
// wins over noise printed earlier (a host without device-mapper prints its
// complaint before every other message).
constexpr std::array failure_rules = {
  // not_found
  failure_rule{errc::not_found, {"failed to find logical volume", ""}},
  failure_rule{errc::not_found, {"failed to find physical volume", ""}},
  failure_rule{errc::not_found, {"failed to find thin pool", ""}},
  failure_rule{errc::not_found, {"failed to find origin", ""}},
  failure_rule{errc::not_found, {"failed to find device", ""}},
  failure_rule{errc::not_found, {"not found in volume group", ""}},
  failure_rule{errc::not_found, {"volume group \"", "\" not found"}},
  failure_rule{errc::not_found, {"logical volume ", " not found"}},
  failure_rule{errc::not_found, {"origin volume ", " not found"}},
  failure_rule{errc::not_found, {"no device found for", ""}},
  failure_rule{errc::not_found, {"device /", " not found"}},
  // already_exists (and the one "already exists" that is a bad name)
  failure_rule{errc::invalid_argument, {"already exists in filesystem", ""}},
  failure_rule{errc::already_exists, {"already exists in volume group", ""}},
  failure_rule{errc::already_exists, {"a volume group called ", " already exists"}},
  failure_rule{errc::already_exists, {"new vg name ", " already exists"}},
  // resource_exhausted
  failure_rule{errc::resource_exhausted, {"insufficient free space", ""}},
  failure_rule{errc::resource_exhausted, {"insufficient free extents", ""}},
  failure_rule{errc::resource_exhausted, {"insufficient suitable ", "extents"}},
  failure_rule{errc::resource_exhausted, {"not enough space", ""}},
  failure_rule{errc::resource_exhausted, {"not enough pvs", ""}},
  failure_rule{errc::resource_exhausted, {"must not exceed number of physical volumes", ""}},
  failure_rule{errc::resource_exhausted, {"free space in thin pool", "reached threshold"}},
  // out_of_range (lvextend that would not grow)
  failure_rule{errc::out_of_range, {"matches existing size", ""}},
  failure_rule{errc::out_of_range, {"not larger than existing size", ""}},
  failure_rule{errc::out_of_range, {"not less than existing size", ""}},
  // failed_precondition
  failure_rule{errc::failed_precondition, {"can't remove logical volume ", " used "}},
  failure_rule{errc::failed_precondition, {"can't remove logical volume ", " under snapshot"}},
  failure_rule{errc::failed_precondition, {" must be activated before", ""}},
  // device_busy
  failure_rule{errc::device_busy, {"can't open ", " exclusively"}},
  failure_rule{errc::device_busy, {"open logical volume", ""}},
  failure_rule{errc::device_busy, {" in use", ""}},
  failure_rule{errc::device_busy, {"is already in volume group", ""}},
  failure_rule{errc::device_busy, {"can't initialize physical volume ", "without -ff"}},
  failure_rule{errc::device_busy, {"aborted wiping of ", ""}},
  failure_rule{errc::device_busy, {"signature left on the device", ""}},
  failure_rule{errc::device_busy, {"device or resource busy", ""}},
  failure_rule{errc::device_busy, {"cannot use ", ": device is partitioned"}},
  failure_rule{errc::device_busy, {"cannot use ", ": device is used by"}},
  failure_rule{errc::device_busy, {"cannot use ", " component"}}, // md or multipath member
  // failed_precondition: any other device lvm2 will not use (filtered, too small, ...)
  failure_rule{errc::failed_precondition, {"cannot use /", ": device is"}},
  // aborted (another lvm2 command holds the lock)
  failure_rule{errc::aborted, {"can't get lock", ""}},
  // no_device_mapper
  failure_rule{errc::no_device_mapper, {"device-mapper target", "not detected in your kernel"}},
  failure_rule{errc::no_device_mapper, {"without using device-mapper kernel driver", ""}},
  failure_rule{errc::no_device_mapper,
               {"failure to communicate with kernel device-mapper driver", ""}},
  failure_rule{errc::no_device_mapper, {"/dev/mapper/control", "open failed"}},
};

std::vector<std::string_view> stderr_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = trim(text.substr(0, nl));
    if (!line.empty())
      lines.push_back(line);
    if (nl == std::string_view::npos)
      break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

bool is_warning(std::string_view line) {
  return starts_with(line, "WARNING:");
}

/// lvm2's follow-up lines that add nothing to the message before them.
bool is_follow_up(std::string_view line) {
  return (starts_with(line, "Run `") && line.find("for more information") != line.npos) ||
         starts_with(line, "Cannot process volume group") ||
         line.find("physical volume not initialized") != line.npos ||
         starts_with(line, "Error during parsing of command line");
}

std::string_view last_meaningful_line(const std::vector<std::string_view>& lines) {
  for (auto i = lines.rbegin(); i != lines.rend(); ++i)
    if (!is_warning(*i) && !is_follow_up(*i))
      return *i;
  for (auto i = lines.rbegin(); i != lines.rend(); ++i)
    if (!is_follow_up(*i))
      return *i;
  return lines.empty() ? std::string_view{} : lines.back();
}

} // namespace

// -- lv_info -----------------------------------------------------------------------

// -- fields and report argv --------------------------------------------------------

std::vector<std::string> pvs_fields() {
  return {"pv_name", "vg_name", "pv_uuid", "pv_size", "pv_free", "pv_tags"};
}

std::vector<std::string> vgs_fields() {
  return {"vg_name",         "vg_uuid",       "vg_size",  "vg_free",  "vg_extent_size",
          "vg_extent_count", "vg_free_count", "pv_count", "lv_count", "vg_tags"};
}

std::vector<std::string> lvs_fields() {
  return {"lv_name",      "vg_name", "lv_uuid", "lv_size",         "lv_attr",
          "segtype",      "pool_lv", "origin",  "data_percent",    "metadata_percent",
          "snap_percent", "stripes", "lv_tags", "lv_kernel_major", "lv_kernel_minor"};
}

caf::expected<std::vector<std::string>> report_argv(report_kind kind, std::string_view vg_filter,
                                                    bool include_hidden) {
  if (!vg_filter.empty())
    if (auto err = validate_vg_name(vg_filter, "vg filter"))
      return err;
  std::vector<std::string> argv;
  std::vector<std::string> fields;
  switch (kind) {
  case report_kind::pvs:
    argv.emplace_back("pvs");
    fields = pvs_fields();
    break;
  case report_kind::vgs:
    argv.emplace_back("vgs");
    fields = vgs_fields();
    break;
  case report_kind::lvs:
    argv.emplace_back("lvs");
    fields = lvs_fields();
    break;
  default:
    return make_error(errc::invalid_argument, "report_argv: unknown report kind");
  }
  for (auto arg : {"--reportformat", "json", "--units", "b", "--nosuffix"})
    argv.emplace_back(arg);
  if (kind == report_kind::lvs && include_hidden)
    argv.emplace_back("-a");
  argv.emplace_back("-o");
  argv.push_back(join(fields, ','));
  if (!vg_filter.empty()) {
    if (kind == report_kind::pvs) {
      argv.emplace_back("-S");
      argv.push_back("vg_name=" + std::string{vg_filter});
    } else {
      argv.emplace_back(vg_filter);
    }
  }
  return argv;
}

// -- parsers -----------------------------------------------------------------------

namespace {

pv_info read_pv(row_reader& r) {
  pv_info pv;
  pv.name = r.text("pv_name", true);
  pv.vg_name = r.text("vg_name");
  pv.uuid = r.text("pv_uuid");
  pv.size_bytes = r.unsigned_number("pv_size");
  pv.free_bytes = r.unsigned_number("pv_free");
  pv.tags = r.tags("pv_tags");
  return pv;
}

vg_info read_vg(row_reader& r) {
  constexpr uint64_t max_count = std::numeric_limits<uint32_t>::max();
  vg_info vg;
  vg.name = r.text("vg_name", true);
  vg.uuid = r.text("vg_uuid");
  vg.size_bytes = r.unsigned_number("vg_size");
  vg.free_bytes = r.unsigned_number("vg_free");
  vg.extent_size_bytes = r.unsigned_number("vg_extent_size");
  vg.extent_count = r.unsigned_number("vg_extent_count");
  vg.free_extent_count = r.unsigned_number("vg_free_count");
  vg.pv_count = static_cast<uint32_t>(r.unsigned_number("pv_count", max_count));
  vg.lv_count = static_cast<uint32_t>(r.unsigned_number("lv_count", max_count));
  vg.tags = r.tags("vg_tags");
  return vg;
}

/// The LV fields of a row; segment fields (segtype, stripes) are read by
/// read_lv_with_segment for `lvs`, and joined from "seg" rows in a full report.
lv_info read_lv(row_reader& r) {
  lv_info lv;
  lv.name = r.text("lv_name", true);
  lv.vg_name = r.text("vg_name", true);
  lv.uuid = r.text("lv_uuid");
  lv.size_bytes = r.unsigned_number("lv_size");
  lv.attr = r.text("lv_attr");
  lv.pool_lv = r.text("pool_lv");
  lv.origin = r.text("origin");
  lv.data_percent = r.percent("data_percent");
  lv.metadata_percent = r.percent("metadata_percent");
  lv.snap_percent = r.percent("snap_percent");
  lv.tags = r.tags("lv_tags");
  lv.kernel_major = r.signed_number("lv_kernel_major");
  lv.kernel_minor = r.signed_number("lv_kernel_minor");
  return lv;
}

lv_info read_lv_with_segment(row_reader& r) {
  auto lv = read_lv(r);
  lv.segtype = r.text("segtype");
  lv.stripes =
    static_cast<uint32_t>(r.unsigned_number("stripes", std::numeric_limits<uint32_t>::max()));
  return lv;
}

/// Decodes lv_attr and names, and merges the rows of multi-segment LVs into
/// their first row.
std::vector<lv_info> decode_lvs(std::vector<lv_info> rows) {
  std::vector<lv_info> result;
  std::unordered_map<std::string, size_t> seen;
  for (auto& lv : rows) {
    lv.name = std::string{unbracket(lv.name, &lv.hidden)};
    lv.pool_lv = std::string{unbracket(lv.pool_lv)};
    lv.origin = std::string{unbracket(lv.origin)};
    auto state = lv.attr_at(4);
    lv.active = std::string_view{"asISmMcC"}.find(state) != std::string_view::npos;
    lv.read_only = lv.attr_at(1) == 'r' || lv.attr_at(1) == 'R';
    lv.invalid_snapshot = state == 'I' || state == 'S';
    lv.path = lv.hidden ? std::string{} : "/dev/" + lv.vg_name + "/" + lv.name;
    lv.segment_count = 1;
    auto key = lv.vg_name + '/' + (lv.uuid.empty() ? lv.name : lv.uuid);
    auto [at, inserted] = seen.emplace(std::move(key), result.size());
    if (inserted)
      result.push_back(std::move(lv));
    else
      ++result[at->second].segment_count;
  }
  return result;
}

} // namespace

caf::expected<std::vector<pv_info>> parse_pvs(std::string_view text) {
  return parse_report<pv_info>(text, "pvs", "pv", read_pv);
}

caf::expected<std::vector<vg_info>> parse_vgs(std::string_view text) {
  return parse_report<vg_info>(text, "vgs", "vg", read_vg);
}

caf::expected<std::vector<lv_info>> parse_lvs(std::string_view text) {
  auto rows = parse_report<lv_info>(text, "lvs", "lv", read_lv_with_segment);
  if (!rows)
    return rows.error();
  return decode_lvs(std::move(*rows));
}

// -- the whole VG in one process ------------------------------------------------

caf::expected<std::vector<std::string>> fullreport_argv(std::string_view vg_filter) {
  if (!vg_filter.empty())
    if (auto err = validate_vg_name(vg_filter, "vg filter"))
      return err;
  auto lv_fields = lvs_fields();
  // segtype and stripes are segment fields: in a full report they come in
  // the "seg" section, joined to their LV by lv_uuid.
  lv_fields.erase(std::remove_if(lv_fields.begin(), lv_fields.end(),
                                 [](auto& f) { return f == "segtype" || f == "stripes"; }),
                  lv_fields.end());
  std::vector<std::string> argv = {"lvm",     "fullreport", "--reportformat", "json",
                                   "--units", "b",          "--nosuffix"};
  for (auto& [type, fields] : std::vector<std::pair<std::string, std::vector<std::string>>>{
         {"vg", vgs_fields()},
         {"pv", pvs_fields()},
         {"lv", lv_fields},
         {"seg", {"lv_uuid", "segtype", "stripes"}},
         {"pvseg", {"pvseg_start"}}}) {
    argv.insert(argv.end(), {"--configreport", type, "-o", join(fields, ',')});
  }
  if (!vg_filter.empty())
    argv.emplace_back(vg_filter);
  return argv;
}

caf::expected<std::vector<vg_report>> parse_fullreport(std::string_view text) {
  // Each element of "report" is one VG with its "vg", "pv", "lv" and "seg"
  // lists; parse_report reads one list across every element, so the lists
  // are read separately and regrouped by VG name. A host without any VG gives
  // an empty "report" array: no VGs, not an error.
  {
    boost::system::error_code ec;
    auto root = json::parse(json::string_view{text.data(), text.size()}, ec);
    if (!ec && root.is_object())
      if (auto* sections = root.get_object().if_contains("report");
          sections && sections->is_array() && sections->get_array().empty())
        return std::vector<vg_report>{};
  }
  auto vgs = parse_report<vg_info>(text, "fullreport", "vg", read_vg);
  if (!vgs)
    return vgs.error();
  auto pvs = parse_report<pv_info>(text, "fullreport", "pv", read_pv);
  if (!pvs)
    return pvs.error();
  auto lv_rows = parse_report<lv_info>(text, "fullreport", "lv", read_lv);
  if (!lv_rows)
    return lv_rows.error();
  struct seg_row {
    std::string lv_uuid;
    std::string segtype;
    uint32_t stripes = 0;
  };
  auto segs = parse_report<seg_row>(text, "fullreport", "seg", [](row_reader& r) {
    seg_row seg;
    seg.lv_uuid = r.text("lv_uuid", true);
    seg.segtype = r.text("segtype");
    seg.stripes =
      static_cast<uint32_t>(r.unsigned_number("stripes", std::numeric_limits<uint32_t>::max()));
    return seg;
  });
  if (!segs)
    return segs.error();
  std::unordered_map<std::string, std::pair<const seg_row*, uint32_t>> first_seg;
  for (auto& seg : *segs) {
    auto [at, inserted] = first_seg.emplace(seg.lv_uuid, std::make_pair(&seg, 1u));
    if (!inserted)
      ++at->second.second;
  }
  std::vector<vg_report> result;
  std::unordered_map<std::string, size_t> by_name;
  for (auto& vg : *vgs) {
    by_name.emplace(vg.name, result.size());
    result.push_back(vg_report{vg, {}, {}});
  }
  for (auto& pv : *pvs)
    if (auto i = by_name.find(pv.vg_name); i != by_name.end())
      result[i->second].pvs.push_back(pv);
  for (auto& lv : decode_lvs(std::move(*lv_rows))) {
    if (lv.hidden) // as lvs without -a: internal LVs are not volumes
      continue;
    if (auto seg = first_seg.find(lv.uuid); seg != first_seg.end()) {
      lv.segtype = seg->second.first->segtype;
      lv.stripes = seg->second.first->stripes;
      lv.segment_count = seg->second.second;
    }
    if (auto i = by_name.find(lv.vg_name); i != by_name.end())
      result[i->second].lvs.push_back(std::move(lv));
  }
  return result;
}

// -- validation --------------------------------------------------------------------

caf::error validate_vg_name(std::string_view name, std::string_view field) {
  if (name.empty())
    return make_error(errc::invalid_argument, std::string{field} + " is empty");
  if (name.size() > max_name_length)
    return invalid(field, name, "longer than " + std::to_string(max_name_length) + " characters");
  if (name.front() == '-')
    return invalid(field, name, "starts with '-'");
  if (name == "." || name == "..")
    return invalid(field, name, "reserved by lvm2");
  for (char c : name)
    if (!is_name_char(c))
      return invalid(field, name, "contains " + shown_char(c) + " (allowed: a-z A-Z 0-9 + _ . -)");
  return {};
}

caf::error validate_lv_name(std::string_view name, std::string_view field) {
  if (auto err = validate_vg_name(name, field))
    return err;
  for (auto prefix : reserved_lv_prefixes)
    if (starts_with(name, prefix))
      return invalid(field, name,
                     "names starting with \"" + std::string{prefix} + "\" are reserved by lvm2");
  for (auto infix : reserved_lv_infixes)
    if (name.find(infix) != std::string_view::npos)
      return invalid(field, name,
                     "names containing \"" + std::string{infix} + "\" are reserved by lvm2");
  return {};
}

caf::error validate_tag(std::string_view tag, std::string_view field) {
  if (tag.empty())
    return make_error(errc::invalid_argument, std::string{field} + " is empty");
  if (tag.size() > max_tag_length)
    return invalid(field, tag, "longer than " + std::to_string(max_tag_length) + " characters");
  for (char c : tag)
    if (!is_tag_char(c))
      return invalid(field, tag,
                     "contains " + shown_char(c) + " (allowed: a-z A-Z 0-9 _ + . - / = ! : & #)");
  return {};
}

caf::error validate_device(std::string_view device, std::string_view field) {
  if (device.empty())
    return make_error(errc::invalid_argument, std::string{field} + " is empty");
  if (device.front() != '/' || device.size() < 2)
    return invalid(field, device, "not an absolute device path");
  if (device.size() > max_device_length)
    return invalid(field, device,
                   "longer than " + std::to_string(max_device_length) + " characters");
  for (char c : device) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      return invalid(field, device, "contains the control character " + shown_char(c));
  }
  return {};
}

// -- change builders -----------------------------------------------------------------

argv_result lvcreate_linear(std::string_view vg, std::string_view name, uint64_t size_bytes,
                            const std::vector<std::string>& tags) {
  if (auto err = validate_new_lv(vg, name, "lv name"))
    return err;
  if (auto err = validate_size(size_bytes, "size"))
    return err;
  if (auto err = validate_tags(tags))
    return err;
  std::vector<std::string> argv{"lvcreate", "-y",
                                "-W",       "y",
                                "-Z",       "y",
                                "--type",   "linear",
                                "-L",       bytes_arg(size_bytes),
                                "-n",       std::string{name}};
  add_tags(argv, "--addtag", tags);
  argv.emplace_back(vg);
  return argv;
}

argv_result lvcreate_striped(std::string_view vg, std::string_view name, uint64_t size_bytes,
                             uint32_t stripes, uint64_t stripe_size_bytes,
                             const std::vector<std::string>& tags) {
  if (auto err = validate_new_lv(vg, name, "lv name"))
    return err;
  if (auto err = validate_size(size_bytes, "size"))
    return err;
  if (stripes < 1 || stripes > max_stripes)
    return make_error(errc::invalid_argument, "stripes " + std::to_string(stripes) +
                                                " out of range 1.." + std::to_string(max_stripes));
  if (stripe_size_bytes != 0 &&
      (stripe_size_bytes < min_stripe_size || (stripe_size_bytes & (stripe_size_bytes - 1)) != 0))
    return make_error(errc::invalid_argument, "stripe size " + std::to_string(stripe_size_bytes) +
                                                " is not a power of two of at least " +
                                                std::to_string(min_stripe_size) + " bytes");
  if (auto err = validate_tags(tags))
    return err;
  std::vector<std::string> argv{"lvcreate", "-y",     "-W",      "y",  "-Z",
                                "y",        "--type", "striped", "-i", std::to_string(stripes)};
  if (stripe_size_bytes != 0) {
    argv.emplace_back("-I");
    argv.push_back(bytes_arg(stripe_size_bytes));
  }
  argv.emplace_back("-L");
  argv.push_back(bytes_arg(size_bytes));
  argv.emplace_back("-n");
  argv.emplace_back(name);
  add_tags(argv, "--addtag", tags);
  argv.emplace_back(vg);
  return argv;
}

argv_result lvcreate_thin_pool(std::string_view vg, std::string_view pool, uint64_t size_bytes,
                               uint64_t metadata_size_bytes, const std::vector<std::string>& tags) {
  // lvm2 names the pool's hidden data and metadata LVs "<pool>_tdata" and
  // "<pool>_tmeta": they must fit as well.
  if (auto err = validate_new_lv(vg, pool, "pool name", std::string_view{"_tdata"}.size()))
    return err;
  if (auto err = validate_size(size_bytes, "size"))
    return err;
  if (metadata_size_bytes != 0)
    if (auto err = validate_size(metadata_size_bytes, "metadata size"))
      return err;
  if (auto err = validate_tags(tags))
    return err;
  std::vector<std::string> argv{"lvcreate", "-y",        "-Z", "y",
                                "--type",   "thin-pool", "-L", bytes_arg(size_bytes)};
  if (metadata_size_bytes != 0) {
    argv.emplace_back("--poolmetadatasize");
    argv.push_back(bytes_arg(metadata_size_bytes));
  }
  argv.emplace_back("-n");
  argv.emplace_back(pool);
  add_tags(argv, "--addtag", tags);
  argv.emplace_back(vg);
  return argv;
}

argv_result lvcreate_thin(std::string_view vg, std::string_view pool, std::string_view name,
                          uint64_t virtual_size_bytes, const std::vector<std::string>& tags) {
  if (auto err = validate_new_lv(vg, name, "lv name"))
    return err;
  if (auto err = validate_lv_name(pool, "pool name"))
    return err;
  if (auto err = validate_size(virtual_size_bytes, "virtual size"))
    return err;
  if (auto err = validate_tags(tags))
    return err;
  std::vector<std::string> argv{"lvcreate",   "-y",
                                "-W",         "y",
                                "--type",     "thin",
                                "-V",         bytes_arg(virtual_size_bytes),
                                "--thinpool", std::string{pool},
                                "-n",         std::string{name}};
  add_tags(argv, "--addtag", tags);
  argv.emplace_back(vg);
  return argv;
}

argv_result lvcreate_cow_snapshot(std::string_view vg, std::string_view origin,
                                  std::string_view name, uint64_t size_bytes,
                                  const std::vector<std::string>& tags) {
  if (auto err = validate_new_lv(vg, name, "snapshot name"))
    return err;
  if (auto err = validate_lv_name(origin, "origin"))
    return err;
  if (auto err = validate_size(size_bytes, "size"))
    return err;
  if (auto err = validate_tags(tags))
    return err;
  std::vector<std::string> argv{
    "lvcreate", "-y", "-s", "-p", "r", "-L", bytes_arg(size_bytes), "-n", std::string{name}};
  add_tags(argv, "--addtag", tags);
  argv.push_back(full_name(vg, origin));
  return argv;
}

argv_result lvcreate_thin_snapshot(std::string_view vg, std::string_view origin,
                                   std::string_view name, const std::vector<std::string>& tags) {
  if (auto err = validate_new_lv(vg, name, "snapshot name"))
    return err;
  if (auto err = validate_lv_name(origin, "origin"))
    return err;
  if (auto err = validate_tags(tags))
    return err;
  std::vector<std::string> argv{"lvcreate",       "-y", "-s", "-k", "n", "-a", "y", "-n",
                                std::string{name}};
  add_tags(argv, "--addtag", tags);
  argv.push_back(full_name(vg, origin));
  return argv;
}

argv_result lvremove(std::string_view vg, std::string_view name) {
  if (auto err = validate_existing_lv(vg, name))
    return err;
  return std::vector<std::string>{"lvremove", "-y", full_name(vg, name)};
}

argv_result lvextend(std::string_view vg, std::string_view name, uint64_t new_size_bytes,
                     bool resize_fs) {
  if (auto err = validate_existing_lv(vg, name))
    return err;
  if (auto err = validate_size(new_size_bytes, "new size"))
    return err;
  std::vector<std::string> argv{"lvextend", "-y", "-L", bytes_arg(new_size_bytes)};
  if (resize_fs)
    argv.emplace_back("-r");
  argv.push_back(full_name(vg, name));
  return argv;
}

namespace {

argv_result lvchange_tags(std::string_view option, std::string_view vg, std::string_view name,
                          const std::vector<std::string>& tags) {
  if (auto err = validate_existing_lv(vg, name))
    return err;
  if (tags.empty())
    return make_error(errc::invalid_argument,
                      "lvchange " + std::string{option} + ": at least one tag is required");
  if (auto err = validate_tags(tags))
    return err;
  std::vector<std::string> argv{"lvchange"};
  add_tags(argv, option, tags);
  argv.push_back(full_name(vg, name));
  return argv;
}

} // namespace

argv_result lvchange_addtag(std::string_view vg, std::string_view name,
                            const std::vector<std::string>& tags) {
  return lvchange_tags("--addtag", vg, name, tags);
}

argv_result lvchange_deltag(std::string_view vg, std::string_view name,
                            const std::vector<std::string>& tags) {
  return lvchange_tags("--deltag", vg, name, tags);
}

argv_result vgcreate(std::string_view vg, const std::vector<std::string>& devices,
                     const std::vector<std::string>& tags, bool force) {
  if (auto err = validate_vg_name(vg))
    return err;
  if (auto err = validate_devices(devices))
    return err;
  if (auto err = validate_tags(tags))
    return err;
  std::vector<std::string> argv{"vgcreate"};
  add_force(argv, force);
  add_tags(argv, "--addtag", tags);
  argv.emplace_back(vg);
  argv.insert(argv.end(), devices.begin(), devices.end());
  return argv;
}

argv_result pvcreate(const std::vector<std::string>& devices, bool force) {
  if (auto err = validate_devices(devices))
    return err;
  std::vector<std::string> argv{"pvcreate"};
  add_force(argv, force);
  argv.insert(argv.end(), devices.begin(), devices.end());
  return argv;
}

argv_result vgextend(std::string_view vg, const std::vector<std::string>& devices, bool force) {
  if (auto err = validate_vg_name(vg))
    return err;
  if (auto err = validate_devices(devices))
    return err;
  std::vector<std::string> argv{"vgextend"};
  add_force(argv, force);
  argv.emplace_back(vg);
  argv.insert(argv.end(), devices.begin(), devices.end());
  return argv;
}

// -- running -------------------------------------------------------------------------

caf::error classify_failure(const std::vector<std::string>& argv, int exit_code,
                            std::string_view stderr_text) {
  auto lines = stderr_lines(stderr_text);
  std::vector<std::string> lowered;
  lowered.reserve(lines.size());
  for (auto line : lines)
    lowered.push_back(is_warning(line) ? std::string{} : lowercase(line));
  auto code = exit_code == 3 ? errc::invalid_argument : errc::command_failed;
  std::string_view decisive;
  for (auto& rule : failure_rules) {
    for (size_t i = 0; i < lines.size() && decisive.empty(); ++i) {
      bool match = !lowered[i].empty();
      for (auto part : rule.parts)
        if (!part.empty() && lowered[i].find(part) == std::string::npos)
          match = false;
      if (match) {
        code = rule.code;
        decisive = lines[i];
      }
    }
    if (!decisive.empty())
      break;
  }
  if (decisive.empty())
    decisive = last_meaningful_line(lines);
  std::string msg = render_argv(argv);
  msg += " failed with exit code ";
  msg += std::to_string(exit_code);
  if (decisive.empty()) {
    msg += " and no message";
  } else {
    msg += ": ";
    msg += decisive.substr(0, max_stderr_line_length);
    if (decisive.size() > max_stderr_line_length)
      msg += "...";
  }
  return make_error(code, std::move(msg));
}

std::vector<std::string> lvm_environment() {
  return {"LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1", "DM_DISABLE_UDEV=1"};
}

caf::expected<std::string> run_lvm(const std::vector<std::string>& argv,
                                   std::chrono::milliseconds timeout) {
  command_spec spec;
  spec.argv = argv;
  spec.timeout = timeout;
  spec.env = lvm_environment();
  auto result = run_command(spec);
  if (!result)
    return result.error();
  if (result->timed_out)
    return make_error(errc::timeout, render_argv(argv) + " timed out after " +
                                       std::to_string(timeout.count()) + "ms");
  if (result->exit_code != 0)
    return classify_failure(argv, result->exit_code, result->err);
  if (result->output_truncated)
    return make_error(errc::payload_too_large, render_argv(argv) + ": output exceeds " +
                                                 std::to_string(spec.max_output_bytes) + " bytes");
  return std::move(result->out);
}

} // namespace olocal::lvm
