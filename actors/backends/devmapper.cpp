#include "actors/backends/devmapper.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/log.hpp"
#include "actors/core/quantity.hpp"

#include <libdevmapper.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace olocal::dm {

namespace {

constexpr std::string_view component = "devmapper";

/// DM_NAME_LEN - 1 (the kernel's limit, including the terminating NUL).
constexpr size_t max_name_length = 127;

/// How much of a status line an error message quotes.
constexpr size_t max_quoted_length = 200;

// libdevmapper's message levels (lvm2 libdm/misc/dm-logging.h; not in the
// public header). The low bits carry the level, higher bits flags.
constexpr int dm_level_mask = 0x0f;
constexpr int dm_level_warn = 4;
constexpr int dm_level_err = 3;
constexpr int dm_level_debug = 7;

// -- text helpers ------------------------------------------------------------------

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n'))
      ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n')
      ++i;
    if (i > start)
      words.push_back(text.substr(start, i - start));
  }
  return words;
}

std::string quoted(std::string_view text) {
  std::string out{"'"};
  if (text.size() > max_quoted_length) {
    out.append(text.substr(0, max_quoted_length));
    out.append("...");
  } else {
    out.append(text);
  }
  out.push_back('\'');
  return out;
}

/// "<used>/<total>" with used <= total.
bool parse_ratio(std::string_view word, uint64_t& used, uint64_t& total) {
  auto slash = word.find('/');
  if (slash == std::string_view::npos)
    return false;
  return parse_u64(word.substr(0, slash), used) && parse_u64(word.substr(slash + 1), total) &&
         used <= total;
}

double fraction(uint64_t used, uint64_t total) {
  return total == 0 ? 0.0 : static_cast<double>(used) / static_cast<double>(total);
}

caf::error bad_field(std::string_view target, std::string_view field, std::string_view word,
                     std::string_view line) {
  return make_error(errc::parse_error, std::string{target} + " status: bad " + std::string{field} +
                                         " " + quoted(word) + " in " + quoted(line));
}

caf::error missing_field(std::string_view target, std::string_view field, std::string_view line) {
  return make_error(errc::parse_error, std::string{target} + " status: no " + std::string{field} +
                                         " in " + quoted(line));
}

caf::error kernel_error(std::string_view target, std::string_view line) {
  return make_error(errc::io_error, std::string{target} + " status: the kernel could not read " +
                                      "the target's state (" + quoted(line) + ")");
}

// -- log route -----------------------------------------------------------------------

__attribute__((format(printf, 5, 6))) void
forward_dm_log(int level, const char* file, int line, int dm_errno_or_class, const char* fmt, ...) {
  int lvl = level & dm_level_mask;
  if (lvl >= dm_level_debug || fmt == nullptr)
    return; // debug output and "<backtrace>" markers
  log::level target = lvl <= dm_level_err    ? log::level::error
                      : lvl == dm_level_warn ? log::level::warn
                                             : log::level::debug; // notice, info: verbose
  if (!log::enabled(target))
    return;
  va_list args;
  va_start(args, fmt);
  va_list again;
  va_copy(again, args);
  char small[256];
  int n = std::vsnprintf(small, sizeof(small), fmt, args);
  va_end(args);
  std::string msg;
  if (n < 0) {
    msg = fmt;
  } else if (static_cast<size_t>(n) < sizeof(small)) {
    msg.assign(small, static_cast<size_t>(n));
  } else {
    msg.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(msg.data(), msg.size(), fmt, again);
    msg.resize(static_cast<size_t>(n));
  }
  va_end(again);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' '))
    msg.pop_back();
  std::string src =
    (file != nullptr ? std::string{file} : std::string{"?"}) + ":" + std::to_string(line);
  // For errors the fourth argument is an errno (-1: unclassified); for
  // verbose messages it is a message class, not worth showing.
  if (target != log::level::debug && dm_errno_or_class > 0)
    log::write(target, component, msg,
               {{"src", src}, {"errno", std::string{std::strerror(dm_errno_or_class)}}});
  else
    log::write(target, component, msg, {{"src", src}});
}

// -- live queries -----------------------------------------------------------------

/// libdevmapper keeps process-wide state (the control file descriptor, the
/// driver version, the log function) without locks of its own.
std::mutex& library_mutex() {
  static std::mutex m;
  return m;
}

struct task_deleter {
  void operator()(dm_task* task) const { dm_task_destroy(task); }
};
using task_ptr = std::unique_ptr<dm_task, task_deleter>;

bool is_name_char(char c) {
  // libdevmapper's whitelist; anything else it would mangle to \xNN.
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view{"#+-.:=@_"}.find(c) != std::string_view::npos;
}

caf::error validate_name(std::string_view name) {
  if (name.empty())
    return make_error(errc::invalid_argument, "device-mapper name is empty");
  if (name.size() > max_name_length)
    return make_error(errc::invalid_argument, "device-mapper name " + quoted(name) +
                                                " is longer than " +
                                                std::to_string(max_name_length) + " characters");
  for (char c : name)
    if (!is_name_char(c))
      return make_error(errc::invalid_argument,
                        "device-mapper name " + quoted(name) +
                          " has a character outside a-z A-Z 0-9 # + - . : = @ _ (a path?)");
  return {};
}

caf::error no_device_mapper(std::string_view name) {
  return make_error(errc::no_device_mapper,
                    "cannot query device-mapper device " + std::string{name} +
                      ": this kernel has no device-mapper (no \"device-mapper\" in /proc/misc; "
                      "is the dm_mod module loaded?)");
}

caf::error not_found(std::string_view name) {
  return make_error(errc::not_found,
                    "device-mapper device " + std::string{name} + " does not exist");
}

/// Runs one libdevmapper task on `name` and hands the finished task and its
/// info to `read` (under the library lock). `what` names the query in errors.
template <class Read>
auto run_task(int type, std::string_view what, std::string_view name, Read read)
  -> decltype(read(std::declval<dm_task*>(), std::declval<const dm_info&>())) {
  if (auto err = validate_name(name))
    return err;
  if (!available())
    return no_device_mapper(name);
  route_log_once();
  std::string owned{name};
  std::lock_guard guard{library_mutex()};
  task_ptr task{dm_task_create(type)};
  if (!task)
    return make_error(errc::io_error, std::string{what} + " of device-mapper device " + owned +
                                        ": libdevmapper cannot create a task "
                                        "(its reason is in the devmapper log)");
  if (dm_task_set_name(task.get(), owned.c_str()) == 0)
    return make_error(errc::io_error, std::string{what} + " of device-mapper device " + owned +
                                        ": libdevmapper refused the name");
  if (dm_task_run(task.get()) == 0) {
    int code = dm_task_get_errno(task.get());
    if (code == ENXIO || code == ENODEV)
      return not_found(owned);
    std::string reason = code > 0 ? std::string{std::strerror(code)}
                                  : std::string{"see the devmapper log for the reason"};
    return make_error(errc::io_error, std::string{what} + " of device-mapper device " + owned +
                                        " failed: " + reason);
  }
  dm_info info{};
  if (dm_task_get_info(task.get(), &info) == 0)
    return make_error(errc::io_error, std::string{what} + " of device-mapper device " + owned +
                                        ": libdevmapper returned no device info");
  return read(task.get(), info);
}

/// The single target of `name` with one of the `types`, or an error.
caf::expected<target_status> single_target(std::string_view name,
                                           std::initializer_list<std::string_view> types) {
  auto targets = status(name);
  if (!targets)
    return std::move(targets.error());
  std::string wanted;
  for (auto type : types)
    wanted += (wanted.empty() ? "" : " or ") + std::string{type};
  if (targets->empty())
    return make_error(errc::failed_precondition, "device-mapper device " + std::string{name} +
                                                   " has no live table (expected " + wanted + ")");
  if (targets->size() != 1)
    return make_error(errc::failed_precondition, "device-mapper device " + std::string{name} +
                                                   " has " + std::to_string(targets->size()) +
                                                   " targets, expected one " + wanted);
  auto& target = targets->front();
  for (auto type : types)
    if (target.type == type)
      return std::move(target);
  return make_error(errc::failed_precondition, "device-mapper device " + std::string{name} +
                                                 " is a " + target.type + " device, not " + wanted);
}

/// Prefixes a parser's error with the device name (same code).
caf::error on_device(caf::error err, std::string_view name) {
  return make_error(code_of(err),
                    "device-mapper device " + std::string{name} + ": " + message_of(err));
}

} // namespace

// -- environment ---------------------------------------------------------------

bool available(const std::filesystem::path& proc) {
  std::ifstream misc{proc / "misc"};
  std::string line;
  while (std::getline(misc, line)) {
    auto words = split_words(line);
    if (words.size() >= 2 && words[1] == "device-mapper")
      return true;
  }
  return false;
}

void route_log_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    dm_log_with_errno_init(&forward_dm_log);
    // libdevmapper's exit handler may still log (pool leak reports) after
    // our logger is gone: give it back its default stderr logger first.
    std::atexit([] { dm_log_with_errno_init(nullptr); });
  });
}

std::string dm_name(std::string_view vg, std::string_view lv, std::string_view layer) {
  std::string out;
  out.reserve(vg.size() + lv.size() + layer.size() + 8);
  auto append_doubled = [&out](std::string_view part) {
    for (char c : part) {
      out.push_back(c);
      if (c == '-')
        out.push_back('-');
    }
  };
  append_doubled(vg);
  out.push_back('-');
  append_doubled(lv);
  if (!layer.empty()) {
    out.push_back('-');
    out.append(layer);
  }
  return out;
}

// -- parsers -------------------------------------------------------------------

caf::expected<thin_pool_status> parse_thin_pool_status(std::string_view params) {
  constexpr std::string_view target = "thin-pool";
  auto words = split_words(params);
  thin_pool_status st;
  if (words.size() == 1 && words[0] == "Fail") {
    st.fail = true;
    return st;
  }
  if (words.size() == 1 && words[0] == "Error")
    return kernel_error(target, params);
  if (words.empty())
    return missing_field(target, "transaction id", params);
  if (!parse_u64(words[0], st.transaction_id))
    return bad_field(target, "transaction id", words[0], params);
  if (words.size() < 2)
    return missing_field(target, "metadata usage", params);
  if (!parse_ratio(words[1], st.used_metadata_blocks, st.total_metadata_blocks))
    return bad_field(target, "metadata usage", words[1], params);
  if (words.size() < 3)
    return missing_field(target, "data usage", params);
  if (!parse_ratio(words[2], st.used_data_blocks, st.total_data_blocks))
    return bad_field(target, "data usage", words[2], params);
  if (words.size() < 4)
    return missing_field(target, "held metadata root", params);
  if (words[3] != "-" && !parse_u64(words[3], st.held_root))
    return bad_field(target, "held metadata root", words[3], params);
  st.data_fill = fraction(st.used_data_blocks, st.total_data_blocks);
  st.metadata_fill = fraction(st.used_metadata_blocks, st.total_metadata_blocks);
  // Later kernels appended the remaining fields one by one, in this order.
  if (words.size() > 4) {
    auto mode = words[4];
    if (mode == "ro")
      st.read_only = true;
    else if (mode == "out_of_data_space")
      st.out_of_space = true;
    else if (mode != "rw")
      return bad_field(target, "mode", mode, params);
  }
  if (words.size() > 5) {
    auto discards = words[5];
    if (discards == "discard_passdown")
      st.discards = "passdown";
    else if (discards == "no_discard_passdown")
      st.discards = "nopassdown";
    else if (discards == "ignore_discard")
      st.discards = "ignore";
    else
      return bad_field(target, "discard mode", discards, params);
  }
  if (words.size() > 6) {
    auto policy = words[6];
    if (policy == "error_if_no_space")
      st.error_if_no_space = true;
    else if (policy != "queue_if_no_space")
      return bad_field(target, "no-space policy", policy, params);
  }
  if (words.size() > 7) {
    auto check = words[7];
    if (check == "needs_check")
      st.needs_check = true;
    else if (check != "-")
      return bad_field(target, "needs_check flag", check, params);
  }
  if (words.size() > 8 && !parse_u64(words[8], st.metadata_low_watermark))
    return bad_field(target, "metadata low watermark", words[8], params);
  return st;
}

caf::expected<thin_status> parse_thin_status(std::string_view params) {
  constexpr std::string_view target = "thin";
  auto words = split_words(params);
  thin_status st;
  if (words.size() == 1 && words[0] == "Fail") {
    st.fail = true;
    return st;
  }
  if (words.size() == 1 && (words[0] == "Error" || words[0] == "-"))
    return kernel_error(target, params); // "-": the thin device is not open in its pool
  if (words.empty())
    return missing_field(target, "mapped sectors", params);
  if (!parse_u64(words[0], st.mapped_sectors))
    return bad_field(target, "mapped sectors", words[0], params);
  if (words.size() < 2)
    return missing_field(target, "highest mapped sector", params);
  if (words[1] == "-") {
    if (st.mapped_sectors != 0)
      return bad_field(target, "highest mapped sector", words[1], params);
  } else if (!parse_u64(words[1], st.highest_mapped_sector)) {
    return bad_field(target, "highest mapped sector", words[1], params);
  } else if (st.mapped_sectors == 0) {
    st.highest_mapped_sector = 0; // unspecified by the kernel when nothing is mapped
  }
  return st;
}

caf::expected<snapshot_status> parse_snapshot_status(std::string_view params) {
  constexpr std::string_view target = "snapshot";
  auto words = split_words(params);
  snapshot_status st;
  if (words.empty())
    return missing_field(target, "usage", params);
  if (words[0] == "Invalid") { // possibly followed by a cause
    st.invalid = true;
    return st;
  }
  if (words[0] == "Overflow") {
    st.overflow = true;
    return st;
  }
  if (words.size() >= 2 && words[0] == "Merge" && words[1] == "failed") {
    st.merge_failed = true;
    return st;
  }
  if (words[0] == "Unknown")
    return kernel_error(target, params);
  if (!parse_ratio(words[0], st.allocated_sectors, st.total_sectors))
    return bad_field(target, "usage", words[0], params);
  if (words.size() < 2)
    return missing_field(target, "metadata sectors", params);
  if (!parse_u64(words[1], st.metadata_sectors) || st.metadata_sectors > st.allocated_sectors)
    return bad_field(target, "metadata sectors", words[1], params);
  st.fill = fraction(st.allocated_sectors, st.total_sectors);
  return st;
}

// -- live queries ------------------------------------------------------------------

caf::expected<device_info> info(std::string_view name) {
  return run_task(DM_DEVICE_INFO, "info", name,
                  [](dm_task*, const dm_info& raw) -> caf::expected<device_info> {
                    device_info out;
                    out.exists = raw.exists != 0;
                    if (!out.exists)
                      return out;
                    out.major = raw.major;
                    out.minor = raw.minor;
                    out.open_count = raw.open_count;
                    out.suspended = raw.suspended != 0;
                    out.read_only = raw.read_only != 0;
                    out.target_count = raw.target_count;
                    return out;
                  });
}

caf::expected<std::vector<target_status>> status(std::string_view name) {
  return run_task(
    DM_DEVICE_STATUS, "status", name,
    [name](dm_task* task, const dm_info& raw) -> caf::expected<std::vector<target_status>> {
      if (raw.exists == 0)
        return not_found(name);
      std::vector<target_status> targets;
      void* next = nullptr;
      do {
        uint64_t start = 0;
        uint64_t length = 0;
        char* type = nullptr;
        char* params = nullptr;
        next = dm_get_next_target(task, next, &start, &length, &type, &params);
        if (type != nullptr)
          targets.push_back({start, length, type, params != nullptr ? params : ""});
      } while (next != nullptr);
      return targets;
    });
}

caf::expected<thin_pool_status> thin_pool(std::string_view name) {
  auto target = single_target(name, {"thin-pool"});
  if (!target)
    return std::move(target.error());
  auto parsed = parse_thin_pool_status(target->params);
  if (!parsed)
    return on_device(std::move(parsed.error()), name);
  return parsed;
}

caf::expected<thin_status> thin(std::string_view name) {
  auto target = single_target(name, {"thin"});
  if (!target)
    return std::move(target.error());
  auto parsed = parse_thin_status(target->params);
  if (!parsed)
    return on_device(std::move(parsed.error()), name);
  return parsed;
}

caf::expected<snapshot_status> snapshot(std::string_view name) {
  auto target = single_target(name, {"snapshot", "snapshot-merge"});
  if (!target)
    return std::move(target.error());
  auto parsed = parse_snapshot_status(target->params);
  if (!parsed)
    return on_device(std::move(parsed.error()), name);
  return parsed;
}

caf::expected<thin_pool_status> lvm_thin_pool(std::string_view vg, std::string_view pool) {
  auto layer = dm_name(vg, pool, "tpool");
  auto st = thin_pool(layer);
  if (st || code_of(st.error()) != errc::not_found)
    return st;
  auto own = dm_name(vg, pool);
  st = thin_pool(own);
  if (st || code_of(st.error()) != errc::not_found)
    return st;
  return make_error(errc::not_found, "thin pool " + std::string{vg} + "/" + std::string{pool} +
                                       " is not active (neither device-mapper device " + layer +
                                       " nor " + own + " exists)");
}

} // namespace olocal::dm
