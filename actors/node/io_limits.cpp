#include "actors/node/io_limits.hpp"

#include "actors/core/errc.hpp"
#include "actors/core/json.hpp"
#include "actors/core/json_fields.hpp"
#include "actors/core/quantity.hpp"
#include "actors/core/state_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <system_error>

namespace olocal::io_limits {

namespace fs = std::filesystem;

namespace {

caf::error bad(std::string_view key, const std::string& value, std::string_view accepts) {
  return make_error(errc::invalid_argument, "parameter " + std::string{key} + "=\"" + value +
                                              "\": expected " + std::string{accepts});
}

const std::string* find(const param_map& params, std::string_view key) {
  auto it = params.find(std::string{key});
  return it == params.end() ? nullptr : &it->second;
}

/// A non-negative integer (IOPS).
caf::expected<uint64_t> parse_count(const param_map& params, std::string_view key) {
  auto* v = find(params, key);
  if (v == nullptr || v->empty())
    return uint64_t{0};
  uint64_t n = 0;
  if (v->find_first_not_of("0123456789") != std::string::npos)
    return bad(key, *v, "a whole number of operations per second");
  if (!parse_u64(*v, n))
    return bad(key, *v, "a number below 2^64");
  return n;
}

caf::expected<uint64_t> parse_bytes(const param_map& params, std::string_view key) {
  auto* v = find(params, key);
  if (v == nullptr || v->empty())
    return uint64_t{0};
  auto q = parse_quantity(*v);
  if (!q)
    return bad(key, *v, "a quantity such as 1048576, 1Mi or 1G");
  return q;
}

/// A cgroup file's whole text; io_error naming the file when it is missing
/// or cannot be read.
caf::expected<std::string> read_cgroup_file(const fs::path& file) {
  auto text = read_state_file(file.string(), "cgroup file");
  if (!text)
    return make_error(errc::io_error, message_of(text.error()));
  if (!*text)
    return make_error(errc::io_error, "read cgroup file " + file.string() + ": missing");
  return std::move(**text);
}

/// One write(2) of `line` (cgroup files take one rule per write). Opened
/// for appending: the kernel ignores the offset, and a plain file (tests)
/// keeps every rule in order, which parse_* read back as the kernel would.
caf::error write_line(const fs::path& file, const std::string& line) {
  std::error_code ec;
  if (!fs::exists(file, ec))
    return make_error(
      errc::io_error,
      "write " + file.string() + ": missing" +
        (file.filename() == "io.max" ? " (the io controller is not enabled for this cgroup)" : ""));
  std::ofstream out{file, std::ios::out | std::ios::app};
  if (!out)
    return make_error(errc::io_error, "open " + file.string() + ": " + std::strerror(errno));
  out << line << '\n';
  out.flush();
  if (!out)
    return make_error(errc::io_error,
                      "write \"" + line + "\" to " + file.string() + ": " + std::strerror(errno));
  return {};
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && !fs::is_symlink(p, ec);
}

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    auto j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t')
      ++j;
    if (j > i)
      out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

template <class F>
void for_each_line(std::string_view text, F f) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos)
      break;
    text.remove_prefix(nl + 1);
  }
}

std::string max_or(uint64_t v) {
  return v == 0 ? std::string{"max"} : std::to_string(v);
}

std::string underscored(std::string_view uid) {
  std::string out{uid};
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

/// True for a directory name that is some pod's cgroup.
bool is_pod_dir(const std::string& name) {
  return name.rfind("pod", 0) == 0 || name.find("-pod") != std::string::npos;
}

} // namespace

caf::expected<io_limit> limit_from_context(const param_map& context) {
  auto iops = parse_count(context, keys::iops);
  auto bps = parse_bytes(context, keys::bps);
  auto riops = parse_count(context, keys::read_iops);
  auto wiops = parse_count(context, keys::write_iops);
  auto rbps = parse_bytes(context, keys::read_bps);
  auto wbps = parse_bytes(context, keys::write_bps);
  for (auto* x : {&iops, &riops, &wiops, &bps, &rbps, &wbps})
    if (!*x)
      return x->error();
  io_limit l;
  l.read_iops = *riops ? *riops : *iops;
  l.write_iops = *wiops ? *wiops : *iops;
  l.read_bps = *rbps ? *rbps : *bps;
  l.write_bps = *wbps ? *wbps : *bps;
  return l;
}

std::string device_number(dev_t dev) {
  return std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
}

caf::expected<dev_t> block_device_number(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    auto code = errno == ENOENT ? errc::not_found : errc::io_error;
    return make_error(code, "device " + path + ": " + std::strerror(errno));
  }
  if (!S_ISBLK(st.st_mode))
    return make_error(errc::invalid_argument, "device " + path + " is not a block device");
  return st.st_rdev;
}

std::string pod_uid_of_target(std::string_view path) {
  std::vector<std::string_view> parts;
  for (size_t i = 0; i < path.size();) {
    auto j = path.find('/', i);
    if (j == std::string_view::npos)
      j = path.size();
    if (j > i)
      parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  // ".../pods/<uid>/volumes/...": the last "pods" with a segment after it.
  for (size_t i = parts.size(); i-- > 1;)
    if (parts[i - 1] == "pods")
      return std::string{parts[i]};
  // ".../volumeDevices/publish/<pv>/<uid>" (raw block)
  for (size_t i = 0; i + 3 < parts.size(); ++i)
    if (parts[i] == "volumeDevices" && parts[i + 1] == "publish")
      return std::string{parts[i + 3]};
  return {};
}

std::string_view to_string(cgroup_mode mode) {
  return mode == cgroup_mode::v2 ? "v2" : "v1";
}

cgroup_mode detect_mode(const fs::path& root) {
  std::error_code ec;
  return fs::exists(root / "cgroup.controllers", ec) ? cgroup_mode::v2 : cgroup_mode::v1;
}

fs::path hierarchy_of(const fs::path& root, cgroup_mode mode) {
  return mode == cgroup_mode::v2 ? root : root / "blkio";
}

std::vector<fs::path> pod_cgroups(const fs::path& root, std::string_view uid) {
  std::vector<fs::path> found;
  if (uid.empty() || uid.find('/') != std::string_view::npos || uid == "." || uid == "..")
    return found;
  auto u = underscored(uid);
  auto cgroupfs_name = "pod" + std::string{uid};
  auto systemd_suffix = "-pod" + u + ".slice";
  auto matches = [&](const std::string& name) {
    return name == cgroupfs_name || (name.size() > systemd_suffix.size() &&
                                     name.compare(name.size() - systemd_suffix.size(),
                                                  systemd_suffix.size(), systemd_suffix) == 0);
  };
  // The usual places: both drivers, every QoS class.
  const std::vector<fs::path> usual = {
    fs::path{"kubepods"} / cgroupfs_name,
    fs::path{"kubepods"} / "burstable" / cgroupfs_name,
    fs::path{"kubepods"} / "besteffort" / cgroupfs_name,
    fs::path{"kubepods.slice"} / ("kubepods-pod" + u + ".slice"),
    fs::path{"kubepods.slice"} / "kubepods-burstable.slice" /
      ("kubepods-burstable-pod" + u + ".slice"),
    fs::path{"kubepods.slice"} / "kubepods-besteffort.slice" /
      ("kubepods-besteffort-pod" + u + ".slice"),
  };
  for (auto& rel : usual)
    if (is_dir(root / rel))
      found.push_back(root / rel);
  if (!found.empty())
    return found;
  // Elsewhere (kubelet's --cgroup-root): breadth first, at most 4 levels,
  // never into another pod's cgroup (its containers are no business of ours).
  std::deque<std::pair<fs::path, int>> queue{{root, 0}};
  while (!queue.empty()) {
    auto [dir, depth] = queue.front();
    queue.pop_front();
    std::error_code ec;
    for (fs::directory_iterator it{dir, ec}, end; !ec && it != end; it.increment(ec)) {
      if (!it->is_directory(ec) || it->is_symlink(ec))
        continue;
      auto name = it->path().filename().string();
      if (matches(name)) {
        found.push_back(it->path());
        continue;
      }
      if (depth + 1 < 4 && !is_pod_dir(name))
        queue.emplace_back(it->path(), depth + 1);
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

caf::expected<fs::path> named_cgroup(const fs::path& root, std::string_view name) {
  fs::path rel{std::string{name}};
  for (auto& part : rel)
    if (part == "..")
      return make_error(errc::invalid_argument,
                        "cgroup \"" + std::string{name} + "\" must not contain \"..\"");
  return (root / rel.relative_path()).lexically_normal();
}

std::vector<fs::path> cgroups_to_write(const fs::path& cgroup, cgroup_mode mode) {
  std::vector<fs::path> out{cgroup};
  if (mode == cgroup_mode::v2)
    return out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it{cgroup, ec}, end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec))
      out.push_back(it->path());
  std::sort(out.begin() + 1, out.end());
  return out;
}

std::string io_max_line(std::string_view device, const io_limit& l) {
  return std::string{device} + " rbps=" + max_or(l.read_bps) + " wbps=" + max_or(l.write_bps) +
         " riops=" + max_or(l.read_iops) + " wiops=" + max_or(l.write_iops);
}

std::map<std::string, io_limit> parse_io_max(std::string_view text) {
  std::map<std::string, io_limit> out;
  for_each_line(text, [&](std::string_view line) {
    auto words = split_ws(line);
    if (words.empty() || words[0].find(':') == std::string_view::npos)
      return;
    io_limit l;
    for (size_t i = 1; i < words.size(); ++i) {
      auto eq = words[i].find('=');
      if (eq == std::string_view::npos)
        continue;
      auto key = words[i].substr(0, eq);
      auto value = words[i].substr(eq + 1);
      uint64_t n = 0;
      if (value != "max" && !parse_u64(value, n))
        continue;
      if (key == "rbps")
        l.read_bps = n;
      else if (key == "wbps")
        l.write_bps = n;
      else if (key == "riops")
        l.read_iops = n;
      else if (key == "wiops")
        l.write_iops = n;
    }
    std::string dev{words[0]};
    if (l.empty())
      out.erase(dev);
    else
      out[dev] = l;
  });
  return out;
}

const std::vector<v1_file>& v1_files() {
  static const std::vector<v1_file> files = {
    {"blkio.throttle.read_bps_device", &io_limit::read_bps},
    {"blkio.throttle.write_bps_device", &io_limit::write_bps},
    {"blkio.throttle.read_iops_device", &io_limit::read_iops},
    {"blkio.throttle.write_iops_device", &io_limit::write_iops},
  };
  return files;
}

std::string v1_line(std::string_view device, uint64_t value) {
  return std::string{device} + " " + std::to_string(value);
}

std::map<std::string, uint64_t> parse_v1(std::string_view text) {
  std::map<std::string, uint64_t> out;
  for_each_line(text, [&](std::string_view line) {
    auto words = split_ws(line);
    uint64_t n = 0;
    if (words.size() != 2 || words[0].find(':') == std::string_view::npos ||
        !parse_u64(words[1], n))
      return;
    std::string dev{words[0]};
    if (n == 0)
      out.erase(dev);
    else
      out[dev] = n;
  });
  return out;
}

caf::expected<io_limit> read_limit(const fs::path& cgroup, cgroup_mode mode,
                                   std::string_view device) {
  std::string dev{device};
  if (mode == cgroup_mode::v2) {
    auto text = read_cgroup_file(cgroup / "io.max");
    if (!text)
      return text.error();
    auto all = parse_io_max(*text);
    auto it = all.find(dev);
    return it == all.end() ? io_limit{} : it->second;
  }
  io_limit l;
  for (auto& f : v1_files()) {
    auto text = read_cgroup_file(cgroup / std::string{f.name});
    if (!text)
      return text.error();
    auto all = parse_v1(*text);
    auto it = all.find(dev);
    l.*f.field = it == all.end() ? 0 : it->second;
  }
  return l;
}

caf::expected<bool> write_limit(const fs::path& cgroup, cgroup_mode mode, std::string_view device,
                                const io_limit& limit) {
  auto now = read_limit(cgroup, mode, device);
  if (!now)
    return now.error();
  if (*now == limit)
    return false;
  if (mode == cgroup_mode::v2) {
    if (auto err = write_line(cgroup / "io.max", io_max_line(device, limit)))
      return err;
    return true;
  }
  for (auto& f : v1_files())
    if ((*now).*f.field != limit.*f.field)
      if (auto err = write_line(cgroup / std::string{f.name}, v1_line(device, limit.*f.field)))
        return err;
  return true;
}

// -- the IO limits file --------------------------------------------------------------

std::string limits_to_json(const std::vector<set_io_limit>& limits) {
  std::string out = "{\"version\":1,\"limits\":[";
  for (size_t i = 0; i < limits.size(); ++i) {
    auto& r = limits[i];
    out += (i ? ",\n" : "\n") + std::string{"{\"volume\":"} + json_quote(r.volume_id) +
           ",\"target\":" + json_quote(r.target_path) + ",\"device\":" + json_quote(r.device) +
           ",\"pod\":" + json_quote(r.pod_uid) + ",\"cgroup\":" + json_quote(r.cgroup) +
           ",\"readBps\":" + std::to_string(r.limit.read_bps) +
           ",\"writeBps\":" + std::to_string(r.limit.write_bps) +
           ",\"readIops\":" + std::to_string(r.limit.read_iops) +
           ",\"writeIops\":" + std::to_string(r.limit.write_iops) + "}";
  }
  out += limits.empty() ? "]}\n" : "\n]}\n";
  return out;
}

caf::expected<std::vector<set_io_limit>> limits_from_json(std::string_view text,
                                                          std::string_view origin) {
  auto bad = [&](const std::string& what) {
    return make_error(errc::parse_error, "IO limits file " + std::string{origin} + ": " + what);
  };
  auto doc = parse_state_document(text, "limits", bad);
  if (!doc)
    return doc.error();
  std::vector<set_io_limit> limits;
  std::set<std::pair<std::string, std::string>> targets;
  size_t index = 0;
  for (auto& item : doc->as_object().at("limits").as_array()) {
    auto where = "limits[" + std::to_string(index++) + "]";
    if (!item.is_object())
      return bad(where + " is not an object");
    set_io_limit r;
    json_fields f{item.as_object(), where, bad};
    for (auto err :
         {f.text("volume", r.volume_id, true), f.text("target", r.target_path, true),
          f.text("device", r.device, true), f.text("pod", r.pod_uid, false),
          f.text("cgroup", r.cgroup, false), f.number("readBps", r.limit.read_bps, false),
          f.number("writeBps", r.limit.write_bps, false),
          f.number("readIops", r.limit.read_iops, false),
          f.number("writeIops", r.limit.write_iops, false)})
      if (err)
        return err;
    if (r.volume_id.empty() || r.target_path.empty() || r.device.empty())
      return bad(where + ": \"volume\", \"target\" and \"device\" must not be empty");
    if (r.limit.empty())
      return bad(where + " limits nothing");
    if (!targets.emplace(r.volume_id, r.target_path).second)
      return bad("volume " + r.volume_id + " at " + r.target_path + " is listed twice");
    limits.push_back(std::move(r));
  }
  return limits;
}

} // namespace olocal::io_limits
