#include "actors/backends/filesystem.hpp"

#include "actors/backends/process.hpp"
#include "actors/backends/signatures.hpp"
#include "actors/core/errc.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <initializer_list>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace olocal::fs_ops {

namespace {

// -- small helpers ---------------------------------------------------------------

std::string errno_text(int err) {
  return std::strerror(err);
}

/// The code for a failed system call on a path.
errc errc_of_errno(int err) {
  switch (err) {
  case ENOENT:
  case ENXIO:
    return errc::not_found;
  case EBUSY:
    return errc::device_busy;
  case EACCES:
  case EPERM:
    return errc::permission_denied;
  case EINVAL:
  case ENOTDIR:
  case EISDIR:
  case ENOTBLK:
  case ENAMETOOLONG:
  case ELOOP:
    return errc::invalid_argument;
  case EROFS:
    return errc::failed_precondition;
  case ETIMEDOUT:
    return errc::timeout;
  default:
    return errc::io_error;
  }
}

/// "<op>: <strerror>" with the code errno suggests.
caf::error sys_error(std::string_view op, int err) {
  return make_error(errc_of_errno(err), std::string{op} + ": " + errno_text(err));
}

/// The same error with the operation in front of its message.
caf::error with_context(std::string_view op, const caf::error& err) {
  return make_error(code_of(err), std::string{op} + ": " + message_of(err));
}

bool has_nul(std::string_view text) {
  return text.find('\0') != std::string_view::npos;
}

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

/// The last `limit` bytes of a program's stderr (or stdout), trimmed.
std::string output_tail(const command_result& result, size_t limit = 2048) {
  std::string_view text = result.err.empty() ? result.out : result.err;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  if (text.size() > limit)
    text = text.substr(text.size() - limit);
  return std::string{text};
}

/// Runs one program; a non-zero exit (other than those in `ok_exits`) is
/// command_failed with its output, a timeout is errc::timeout.
caf::expected<command_result> run(const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout,
                                  std::initializer_list<int> ok_exits = {0}) {
  command_spec spec;
  spec.argv = argv;
  spec.timeout = timeout;
  auto result = run_command(spec);
  if (!result)
    return with_context(render_argv(argv), result.error());
  if (result->timed_out)
    return make_error(errc::timeout, render_argv(argv) + ": no answer within " +
                                       std::to_string(timeout.count()) + " ms");
  if (std::find(ok_exits.begin(), ok_exits.end(), result->exit_code) == ok_exits.end())
    return make_error(errc::command_failed, render_argv(argv) + ": exit code " +
                                              std::to_string(result->exit_code) + ": " +
                                              output_tail(*result));
  return result;
}

/// The absolute path `path` names with symlinks resolved; nullopt when it
/// does not exist. A path that exists but cannot be resolved (a dead mount
/// answers EIO, ENOTCONN or ESTALE) is made absolute and normalized instead,
/// so that its mount can still be found and removed.
std::optional<std::string> resolve(const std::string& path) {
  char buffer[PATH_MAX];
  if (::realpath(path.c_str(), buffer) != nullptr)
    return std::string{buffer};
  if (errno == ENOENT || errno == ENOTDIR)
    return std::nullopt;
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec);
  if (ec)
    return std::nullopt;
  auto normal = absolute.lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/')
    normal.pop_back();
  return normal;
}

bool same_device(const mount_entry& entry, dev_t dev) {
  return entry.major == ::major(dev) && entry.minor == ::minor(dev);
}

std::string device_numbers(uint32_t major, uint32_t minor) {
  return std::to_string(major) + ":" + std::to_string(minor);
}

std::string describe(const mount_entry& entry) {
  std::string text = entry.source + " (" + device_numbers(entry.major, entry.minor) + ", " +
                     entry.fstype + (entry.read_only ? ", ro" : ", rw");
  if (entry.root != "/")
    text += ", root " + entry.root;
  return text + ")";
}

/// Every mount of the filesystem on device `dev`.
caf::expected<std::vector<mount_entry>> mounts_of(dev_t dev) {
  auto mounts = read_mounts();
  if (!mounts)
    return mounts.error();
  std::vector<mount_entry> found;
  for (auto& entry : *mounts)
    if (same_device(entry, dev))
      found.push_back(entry);
  return found;
}

/// stat() of a device that must be a block device.
caf::expected<struct stat> stat_block_device(const std::string& device, std::string_view op) {
  if (device.empty() || device.front() != '/' || has_nul(device))
    return make_error(errc::invalid_argument,
                      std::string{op} + ": device must be an absolute path, got '" + device + "'");
  struct stat st {};
  if (::stat(device.c_str(), &st) != 0)
    return sys_error(std::string{op} + ": stat " + device, errno);
  if (!S_ISBLK(st.st_mode))
    return make_error(errc::invalid_argument,
                      std::string{op} + ": " + device + " is not a block device");
  return st;
}

bool is_ext(std::string_view fstype) {
  return fstype == "ext2" || fstype == "ext3" || fstype == "ext4";
}

bool has_option(std::string_view list, std::string_view option) {
  while (!list.empty()) {
    auto comma = list.find(',');
    if (list.substr(0, comma) == option)
      return true;
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// -- mountinfo -------------------------------------------------------------------

/// Undoes the kernel's octal escapes (space \040, tab \011, newline \012,
/// backslash \134); anything else is kept as it is.
std::string unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    auto octal = [](char c) { return c >= '0' && c <= '7'; };
    if (text[i] == '\\' && i + 3 < text.size() && octal(text[i + 1]) && octal(text[i + 2]) &&
        octal(text[i + 3])) {
      int value = (text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0');
      if (value <= 0xff) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

template <class T>
bool parse_number(std::string_view text, T& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    auto at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos)
      return parts;
    text.remove_prefix(at + 1);
  }
}

caf::expected<mount_entry> parse_mountinfo_line(std::string_view line, size_t number) {
  auto bad = [&](std::string_view why) {
    return make_error(errc::parse_error, "mountinfo line " + std::to_string(number) + ": " +
                                           std::string{why} + ": '" + std::string{line} + "'");
  };
  auto fields = split(line, ' ');
  // id parent major:minor root mount-point options [optional...] - fstype source super
  size_t separator = 6;
  while (separator < fields.size() && fields[separator] != "-")
    ++separator;
  if (separator + 2 >= fields.size())
    return bad("fewer fields than proc(5) describes");
  mount_entry entry;
  if (!parse_number(fields[0], entry.mount_id) || !parse_number(fields[1], entry.parent_id))
    return bad("mount id or parent id is not a number");
  auto colon = fields[2].find(':');
  if (colon == std::string_view::npos || !parse_number(fields[2].substr(0, colon), entry.major) ||
      !parse_number(fields[2].substr(colon + 1), entry.minor))
    return bad("device is not major:minor");
  entry.root = unescape(fields[3]);
  entry.mount_point = unescape(fields[4]);
  entry.options = unescape(fields[5]);
  entry.fstype = unescape(fields[separator + 1]);
  entry.source = unescape(fields[separator + 2]);
  // Super options never hold a space, but be lenient about a missing field.
  if (separator + 3 < fields.size())
    entry.super_options = unescape(fields[separator + 3]);
  entry.read_only = has_option(entry.options, "ro") || has_option(entry.super_options, "ro");
  return entry;
}

// -- mount options ---------------------------------------------------------------

struct flag_rule {
  std::string_view name;
  uint64_t set;
  uint64_t clear;
};

constexpr uint64_t atime_flags = MS_NOATIME | MS_RELATIME | MS_STRICTATIME;

constexpr flag_rule flag_rules[] = {
  {"defaults", 0, 0},
  {"ro", MS_RDONLY, 0},
  {"rw", 0, MS_RDONLY},
  {"nodev", MS_NODEV, 0},
  {"dev", 0, MS_NODEV},
  {"nosuid", MS_NOSUID, 0},
  {"suid", 0, MS_NOSUID},
  {"noexec", MS_NOEXEC, 0},
  {"exec", 0, MS_NOEXEC},
  {"sync", MS_SYNCHRONOUS, 0},
  {"async", 0, MS_SYNCHRONOUS},
  {"dirsync", MS_DIRSYNC, 0},
  {"noatime", MS_NOATIME, atime_flags},
  {"atime", 0, MS_NOATIME},
  {"relatime", MS_RELATIME, atime_flags},
  {"norelatime", 0, MS_RELATIME},
  {"strictatime", MS_STRICTATIME, atime_flags},
  {"nostrictatime", 0, MS_STRICTATIME},
  {"nodiratime", MS_NODIRATIME, 0},
  {"diratime", 0, MS_NODIRATIME},
  {"lazytime", MS_LAZYTIME, 0},
  {"nolazytime", 0, MS_LAZYTIME},
};

} // namespace

// -- formatting ----------------------------------------------------------------

caf::expected<std::vector<std::string>>
mkfs_argv(const std::string& device, std::string_view fstype, const format_options& opts) {
  std::string op = "format " + device + " as " + std::string{fstype};
  if (device.empty() || device.front() != '/' || has_nul(device) || has_control(device))
    return make_error(errc::invalid_argument,
                      op + ": device must be an absolute path, got '" + device + "'");
  size_t label_limit = fstype == "xfs" ? 12 : 16;
  if (opts.label.size() > label_limit || has_nul(opts.label) || has_control(opts.label))
    return make_error(errc::invalid_argument, op + ": label '" + opts.label + "' is not a valid " +
                                                std::string{fstype} + " label (at most " +
                                                std::to_string(label_limit) + " printable bytes)");
  std::vector<std::string> argv;
  if (fstype == "ext4")
    argv = {"mkfs.ext4", "-F", "-q", "-E", "lazy_itable_init=1,lazy_journal_init=1"};
  else if (fstype == "ext3")
    argv = {"mkfs.ext3", "-F", "-q", "-E", "lazy_journal_init=1"};
  else if (fstype == "xfs")
    argv = {"mkfs.xfs", "-f", "-q", "-K"};
  else
    return make_error(errc::invalid_argument, "format " + device + ": unsupported fstype '" +
                                                std::string{fstype} +
                                                "' (supported: ext4, ext3, xfs)");
  if (!opts.label.empty()) {
    argv.emplace_back("-L");
    argv.push_back(opts.label);
  }
  argv.push_back(device);
  return argv;
}

caf::expected<std::string> format(const std::string& device, std::string_view fstype,
                                  const format_options& opts) {
  auto argv = mkfs_argv(device, fstype, opts);
  if (!argv)
    return argv.error();
  std::string op = "format " + device + " as " + std::string{fstype};
  auto st = stat_block_device(device, op);
  if (!st)
    return st.error();
  // Mounted: never, whatever force says.
  auto mounted = mounts_of(st->st_rdev);
  if (!mounted)
    return with_context(op, mounted.error());
  if (!mounted->empty())
    return make_error(errc::device_busy,
                      op + ": device is mounted at " + mounted->front().mount_point);
  auto signatures = probe_signatures(device);
  if (!signatures)
    return with_context(op, signatures.error());
  if (!signatures->empty() && !opts.force) {
    std::string found;
    for (auto& name : *signatures)
      found += (found.empty() ? "" : ", ") + name;
    return make_error(errc::device_busy,
                      op + ": device already holds " + found + "; refusing without force");
  }
  // A claimed device (mounted in another namespace, held by device-mapper or
  // md) cannot be opened exclusively.
  int fd = ::open(device.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
  if (fd < 0) {
    if (errno == EBUSY)
      return make_error(errc::device_busy,
                        op + ": device is in use (claimed by a mount or a holder)");
    return sys_error(op + ": open " + device, errno);
  }
  ::close(fd);
  auto result = run(*argv, std::chrono::milliseconds{std::max<int64_t>(opts.timeout_ms, 1)});
  if (!result)
    return with_context(op, result.error());
  return render_argv(*argv);
}

caf::expected<std::string> detect_filesystem(const std::string& device) {
  auto signatures = probe_signatures(device);
  if (!signatures)
    return with_context("detect filesystem on " + device, signatures.error());
  for (auto& name : *signatures)
    if (is_ext(name) || name == "xfs" || name == "btrfs" || name == "vfat" || name == "iso9660")
      return name;
  return std::string{};
}

// -- mount options -----------------------------------------------------------------

bool mount_options::read_only() const {
  return (flags & MS_RDONLY) != 0;
}

caf::expected<mount_options> parse_mount_options(const std::vector<std::string>& options) {
  mount_options parsed;
  for (auto& option : options) {
    if (option.empty())
      return make_error(errc::invalid_argument, "mount options: empty option");
    if (option.find(',') != std::string::npos || has_nul(option))
      return make_error(errc::invalid_argument,
                        "mount options: '" + option +
                          "' must be one option (no ',' and no NUL; pass a list instead)");
    auto rule = std::find_if(std::begin(flag_rules), std::end(flag_rules),
                             [&](const flag_rule& r) { return r.name == option; });
    if (rule == std::end(flag_rules)) {
      if (!parsed.data.empty())
        parsed.data += ',';
      parsed.data += option;
      continue;
    }
    parsed.flags = (parsed.flags & ~rule->clear) | rule->set;
  }
  return parsed;
}

// -- the mount table ---------------------------------------------------------------

caf::expected<std::vector<mount_entry>> parse_mountinfo(std::string_view text) {
  std::vector<mount_entry> entries;
  size_t number = 0;
  for (auto line : split(text, '\n')) {
    ++number;
    if (line.empty())
      continue;
    auto entry = parse_mountinfo_line(line, number);
    if (!entry)
      return entry.error();
    entries.push_back(std::move(*entry));
  }
  return entries;
}

caf::expected<std::vector<mount_entry>> read_mounts() {
  constexpr const char* path = "/proc/self/mountinfo";
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(errc::io_error, std::string{"open "} + path + ": " + errno_text(errno));
  std::string text;
  char buffer[16384];
  while (true) {
    auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return make_error(errc::io_error, std::string{"read "} + path + ": " + errno_text(err));
    }
    if (n == 0)
      break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return parse_mountinfo(text);
}

caf::expected<std::optional<mount_entry>> find_mount(const std::string& target) {
  if (target.empty() || has_nul(target))
    return make_error(errc::invalid_argument, "find mount: empty or malformed target");
  auto path = resolve(target);
  if (!path)
    return std::optional<mount_entry>{};
  auto mounts = read_mounts();
  if (!mounts)
    return with_context("find mount at " + target, mounts.error());
  // Later lines are mounted later; the last one at a path is the one seen.
  for (auto entry = mounts->rbegin(); entry != mounts->rend(); ++entry)
    if (entry->mount_point == *path)
      return std::optional<mount_entry>{*entry};
  return std::optional<mount_entry>{};
}

bool is_mountpoint(const std::string& path) {
  auto entry = find_mount(path);
  return entry && entry->has_value();
}

// -- mounting ------------------------------------------------------------------

caf::expected<void> ensure_directory(const std::string& path) {
  std::string op = "create directory " + path;
  if (path.empty() || has_nul(path))
    return make_error(errc::invalid_argument, op + ": empty or malformed path");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return {};
    return make_error(errc::invalid_argument, op + ": exists and is not a directory");
  }
  if (errno != ENOENT)
    return sys_error(op, errno);
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec)
    return sys_error(op, ec.value());
  return {};
}

caf::expected<void> ensure_file(const std::string& path) {
  std::string op = "create file " + path;
  if (path.empty() || has_nul(path))
    return make_error(errc::invalid_argument, op + ": empty or malformed path");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return make_error(errc::invalid_argument, op + ": exists and is a directory");
    return {};
  }
  if (errno != ENOENT)
    return sys_error(op, errno);
  auto parent = std::filesystem::path{path}.parent_path();
  if (!parent.empty()) {
    auto made = ensure_directory(parent.string());
    if (!made)
      return with_context(op, made.error());
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0)
    return sys_error(op, errno);
  ::close(fd);
  return {};
}

caf::expected<bool> mount(const std::string& source, const std::string& target,
                          std::string_view fstype, const std::vector<std::string>& options) {
  std::string op = "mount " + source + " at " + target;
  if (source.empty() || target.empty() || fstype.empty() || has_nul(source) || has_nul(target) ||
      has_nul(fstype))
    return make_error(errc::invalid_argument, op + ": source, target and fstype are required");
  auto parsed = parse_mount_options(options);
  if (!parsed)
    return with_context(op, parsed.error());
  // A path source must exist; a block device is recognised by major:minor.
  struct stat src {};
  bool block = false;
  if (source.front() == '/') {
    if (::stat(source.c_str(), &src) != 0)
      return sys_error(op + ": stat " + source, errno);
    block = S_ISBLK(src.st_mode);
  }
  auto made = ensure_directory(target);
  if (!made)
    return with_context(op, made.error());
  auto existing = find_mount(target);
  if (!existing)
    return with_context(op, existing.error());
  if (*existing) {
    auto& entry = **existing;
    bool same_source =
      block ? same_device(entry, src.st_rdev) && entry.root == "/" : entry.source == source;
    std::string wanted =
      source + " (" +
      (block ? device_numbers(::major(src.st_rdev), ::minor(src.st_rdev)) + ", " : std::string{}) +
      std::string{fstype} + (parsed->read_only() ? ", ro" : ", rw") + ")";
    if (!same_source || entry.fstype != fstype || entry.read_only != parsed->read_only())
      return make_error(errc::already_exists, op + ": " + entry.mount_point + " already has " +
                                                describe(entry) + " mounted; requested " + wanted);
    return false;
  }
  auto path = resolve(target);
  if (!path)
    return make_error(errc::not_found, op + ": target vanished");
  std::string type{fstype};
  const char* data = parsed->data.empty() ? nullptr : parsed->data.c_str();
  if (::mount(source.c_str(), path->c_str(), type.c_str(), parsed->flags, data) != 0) {
    int err = errno;
    if (err == ENODEV)
      return make_error(errc::invalid_argument,
                        op + ": filesystem type " + type + " is not supported by the kernel");
    std::string detail = parsed->data.empty() ? std::string{} : " (data '" + parsed->data + "')";
    return sys_error(op + " as " + type + detail, err);
  }
  return true;
}

caf::expected<bool> bind_mount(const std::string& source, const std::string& target,
                               bool read_only) {
  std::string op =
    std::string{read_only ? "read-only " : ""} + "bind mount " + source + " at " + target;
  if (source.empty() || target.empty() || has_nul(source) || has_nul(target))
    return make_error(errc::invalid_argument, op + ": source and target are required");
  struct stat src {};
  if (::stat(source.c_str(), &src) != 0)
    return sys_error(op + ": stat " + source, errno);
  auto made = S_ISDIR(src.st_mode) ? ensure_directory(target) : ensure_file(target);
  if (!made)
    return with_context(op, made.error());
  auto existing = find_mount(target);
  if (!existing)
    return with_context(op, existing.error());
  if (*existing) {
    auto& entry = **existing;
    struct stat dst {};
    if (::stat(target.c_str(), &dst) != 0)
      return sys_error(op + ": stat " + target, errno);
    bool same = dst.st_dev == src.st_dev && dst.st_ino == src.st_ino;
    if (!same || entry.read_only != read_only)
      return make_error(errc::already_exists, op + ": " + entry.mount_point + " already has " +
                                                describe(entry) + " mounted" +
                                                (same ? " with other ro-ness" : ""));
    return false;
  }
  auto path = resolve(target);
  if (!path)
    return make_error(errc::not_found, op + ": target vanished");
  if (::mount(source.c_str(), path->c_str(), nullptr, MS_BIND, nullptr) != 0)
    return sys_error(op, errno);
  if (!read_only)
    return true;
  // The kernel ignores MS_RDONLY on the bind itself; a remount of the bind
  // sets it. The remount replaces every per-mount flag, so the ones the new
  // mount inherited are passed again.
  uint64_t keep = 0;
  struct statvfs vfs {};
  if (::statvfs(path->c_str(), &vfs) == 0) {
    constexpr std::pair<unsigned long, uint64_t> inherited[] = {
      {ST_NOSUID, MS_NOSUID},           {ST_NODEV, MS_NODEV},           {ST_NOEXEC, MS_NOEXEC},
      {ST_NOATIME, MS_NOATIME},         {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
      {ST_SYNCHRONOUS, MS_SYNCHRONOUS},
    };
    for (auto [st_flag, ms_flag] : inherited)
      if (vfs.f_flag & st_flag)
        keep |= ms_flag;
  }
  if (::mount(source.c_str(), path->c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY | keep,
              nullptr) != 0) {
    int err = errno;
    // Never leave a writable bind behind a failed read-only request.
    if (::umount2(path->c_str(), UMOUNT_NOFOLLOW) != 0)
      ::umount2(path->c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
    return sys_error(op + ": remount read-only", err);
  }
  return true;
}

caf::expected<bool> unmount(const std::string& target) {
  std::string op = "unmount " + target;
  auto existing = find_mount(target);
  if (!existing)
    return with_context(op, existing.error());
  if (!*existing)
    return false;
  auto& path = (*existing)->mount_point;
  if (::umount2(path.c_str(), UMOUNT_NOFOLLOW) != 0) {
    int err = errno;
    if (err == EINVAL || err == ENOENT) // unmounted meanwhile
      return false;
    if (err == EBUSY)
      return make_error(errc::device_busy,
                        op + ": target is busy (files or mounts are open on it)");
    return sys_error(op, err);
  }
  return true;
}

// -- growing ---------------------------------------------------------------------

caf::expected<std::string> grow(const std::string& device, const std::string& mountpoint,
                                std::string_view fstype, std::chrono::milliseconds timeout) {
  std::string op = "grow " + std::string{fstype} + " on " + device;
  if (!is_ext(fstype) && fstype != "xfs")
    return make_error(errc::invalid_argument, "grow " + device + ": unsupported fstype '" +
                                                std::string{fstype} +
                                                "' (supported: ext2, ext3, ext4, xfs)");
  auto st = stat_block_device(device, op);
  if (!st)
    return st.error();
  auto found = detect_filesystem(device);
  if (!found)
    return with_context(op, found.error());
  bool matches = is_ext(fstype) ? is_ext(*found) : *found == fstype;
  if (!matches)
    return make_error(errc::failed_precondition,
                      op + ": device holds " + (found->empty() ? "no filesystem" : *found));
  std::optional<mount_entry> at_mountpoint;
  if (!mountpoint.empty()) {
    auto entry = find_mount(mountpoint);
    if (!entry)
      return with_context(op, entry.error());
    if (*entry && !same_device(**entry, st->st_rdev))
      return make_error(errc::failed_precondition, op + ": " + mountpoint + " is served by " +
                                                     describe(**entry) + ", not by " + device);
    at_mountpoint = *entry;
  }
  if (fstype == "xfs") {
    if (!at_mountpoint)
      return make_error(errc::failed_precondition,
                        op + ": xfs grows only while mounted, and " +
                          (mountpoint.empty() ? std::string{"no mountpoint was given"}
                                              : mountpoint + " is not mounted"));
    std::vector<std::string> argv{"xfs_growfs", "-d", at_mountpoint->mount_point};
    auto result = run(argv, timeout);
    if (!result)
      return with_context(op, result.error());
    return render_argv(argv);
  }
  auto mounts = mounts_of(st->st_rdev);
  if (!mounts)
    return with_context(op, mounts.error());
  std::vector<std::string> resize{"resize2fs", device};
  if (!mounts->empty()) {
    auto result = run(resize, timeout);
    if (!result)
      return with_context(op, result.error());
    return render_argv(resize);
  }
  // Offline: resize2fs refuses a filesystem not checked since its last mount.
  // e2fsck -p fixes what is safe to fix; exit 1 means it fixed something.
  std::vector<std::string> fsck{"e2fsck", "-f", "-p", device};
  auto checked = run(fsck, timeout, {0, 1});
  if (!checked)
    return with_context(op, checked.error());
  auto result = run(resize, timeout);
  if (!result)
    return with_context(op, result.error());
  return render_argv(fsck) + " && " + render_argv(resize);
}

// -- measuring -------------------------------------------------------------------

caf::expected<fs_stats> stats(const std::string& path) {
  if (path.empty() || has_nul(path))
    return make_error(errc::invalid_argument, "statvfs: empty or malformed path");
  struct statvfs vfs {};
  if (::statvfs(path.c_str(), &vfs) != 0)
    return sys_error("statvfs " + path, errno);
  uint64_t unit = vfs.f_frsize != 0 ? vfs.f_frsize : vfs.f_bsize;
  fs_stats out;
  out.total_bytes = static_cast<uint64_t>(vfs.f_blocks) * unit;
  out.used_bytes = static_cast<uint64_t>(vfs.f_blocks - std::min(vfs.f_bfree, vfs.f_blocks)) * unit;
  out.available_bytes = static_cast<uint64_t>(vfs.f_bavail) * unit;
  out.total_inodes = vfs.f_files;
  out.free_inodes = vfs.f_ffree;
  out.used_inodes = vfs.f_files - std::min(vfs.f_ffree, vfs.f_files);
  return out;
}

caf::expected<uint64_t> block_device_size(const std::string& path) {
  std::string op = "size of " + path;
  if (path.empty() || has_nul(path))
    return make_error(errc::invalid_argument, op + ": empty or malformed path");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return sys_error(op + ": open", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return sys_error(op + ": fstat", err);
  }
  if (!S_ISBLK(st.st_mode)) {
    ::close(fd);
    return make_error(errc::invalid_argument, op + ": not a block device");
  }
  uint64_t bytes = 0;
  if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
    int err = errno;
    ::close(fd);
    return sys_error(op + ": ioctl BLKGETSIZE64", err);
  }
  ::close(fd);
  return bytes;
}

// -- health ----------------------------------------------------------------------

volume_condition check(const std::string& device, const std::string& mountpoint,
                       bool expect_writable) {
  auto abnormal = [](std::string message) { return volume_condition{true, std::move(message)}; };
  struct stat st {};
  if (device.empty() || ::stat(device.c_str(), &st) != 0)
    return abnormal("device " + device + " is missing" +
                    (device.empty() ? std::string{} : ": " + errno_text(errno)));
  if (!S_ISBLK(st.st_mode))
    return abnormal("device " + device + " is not a block device");
  if (mountpoint.empty())
    return abnormal("no mountpoint given for " + device);
  auto entry = find_mount(mountpoint);
  if (!entry)
    return abnormal("cannot read the mount table: " + render(entry.error()));
  if (!*entry)
    return abnormal(mountpoint + " is not mounted (expected " + device + ")");
  auto& mounted = **entry;
  if (!same_device(mounted, st.st_rdev))
    return abnormal(mountpoint + " is served by " + describe(mounted) + ", not by " + device +
                    " (" + device_numbers(::major(st.st_rdev), ::minor(st.st_rdev)) + ")");
  struct statvfs vfs {};
  if (::statvfs(mountpoint.c_str(), &vfs) != 0)
    return abnormal(mountpoint + " cannot be read: " + errno_text(errno));
  if (expect_writable && (mounted.read_only || (vfs.f_flag & ST_RDONLY)))
    return abnormal(mountpoint + " is mounted read-only");
  return {};
}

} // namespace olocal::fs_ops
