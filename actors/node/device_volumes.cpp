#include "actors/node/device_volumes.hpp"

#include "actors/backends/filesystem.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/json.hpp"
#include "actors/core/json_fields.hpp"
#include "actors/core/state_file.hpp"
#include "actors/node/block_devices.hpp"
#include "actors/node/vg_actor.hpp"

#include <caf/all.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace olocal {

namespace fs = std::filesystem;

std::string claim_kind_tag(std::string_view type) {
  if (type == device_type)
    return "device";
  if (type == mount_point_type)
    return "mountpoint";
  return {};
}

std::string claim_type_of(std::string_view kind_tag) {
  if (kind_tag == "device")
    return std::string{device_type};
  if (kind_tag == "mountpoint")
    return std::string{mount_point_type};
  return {};
}

bool is_claim_kind(std::string_view kind_tag) {
  return !claim_type_of(kind_tag).empty();
}

std::string claims_path(const std::string& state_dir) {
  auto dir = state_dir;
  while (dir.size() > 1 && dir.back() == '/')
    dir.pop_back();
  return dir + "/claims.json";
}

// -- eligibility and choice ----------------------------------------------------------

caf::expected<device_filter> device_filter::make(const std::vector<std::string>& include,
                                                 const std::vector<std::string>& exclude) {
  auto inc = name_filter::make(include, {});
  if (!inc)
    return inc.error();
  if (auto checked = name_filter::make({}, exclude); !checked) // names the field "exclude"
    return checked.error();
  auto exc = name_filter::make(exclude, {});
  if (!exc)
    return exc.error();
  device_filter f;
  f.include_ = std::move(*inc);
  f.exclude_ = std::move(*exc);
  return f;
}

bool device_filter::includes(const block_device& dev) const {
  auto any = [&dev](const name_filter& f) {
    return f.selects(dev.name) || (!dev.path.empty() && f.selects(dev.path));
  };
  return any(include_) && !any(exclude_);
}

bool device_included(const device_filter& filter, const block_device& dev) {
  return filter.includes(dev);
}

std::string device_unavailable(const block_device& dev) {
  if (dev.kind == "dm")
    return "a device-mapper device (logical volumes are never Device volumes)";
  if (dev.size_bytes == 0)
    return "empty (0 bytes)";
  return dev.in_use_reason();
}

std::string mount_point_unavailable(const mount_point_facts& mp) {
  if (!mp.error.empty())
    return mp.error;
  if (mp.fstype != "ext4" && mp.fstype != "ext3" && mp.fstype != "xfs")
    return "holds " + (mp.fstype.empty() ? std::string{"no filesystem"} : mp.fstype) +
           " (only ext3, ext4 and xfs mount points are served)";
  if (mp.read_only)
    return "mounted read-only";
  if (mp.total_bytes == 0)
    return "reports no capacity";
  if (mp.entries > 0)
    return "not empty (" + std::to_string(mp.entries) + " entries besides lost+found)";
  return {};
}

namespace {

const claim_record* claim_of(const std::vector<claim_record>& claims, std::string_view kind,
                             const std::string& path) {
  for (auto& c : claims)
    if (c.kind == kind && c.path == path)
      return &c;
  return nullptr;
}

std::string noun_of(std::string_view type) {
  return type == device_type ? "device" : "mount point";
}

} // namespace

std::vector<claim_candidate> claim_candidates(const std::vector<block_device>& devices,
                                              const device_filter* filter,
                                              const std::vector<mount_point_facts>& mount_points,
                                              const std::vector<claim_record>& claims) {
  std::vector<claim_candidate> out;
  std::set<std::string> seen;
  for (auto& dev : devices) {
    auto* claim = claim_of(claims, device_type, dev.path);
    if (claim == nullptr && (filter == nullptr || !device_included(*filter, dev)))
      continue;
    claim_candidate c;
    c.kind = device_type;
    c.name = dev.name;
    c.path = dev.path;
    c.size_bytes = dev.size_bytes;
    c.media_type = dev.media_type();
    if (claim != nullptr)
      c.claimed_by = claim->id;
    else
      c.unavailable = device_unavailable(dev);
    seen.insert(c.kind + ":" + c.path);
    out.push_back(std::move(c));
  }
  for (auto& mp : mount_points) {
    auto* claim = claim_of(claims, mount_point_type, mp.path);
    claim_candidate c;
    c.kind = mount_point_type;
    c.name = mp.name;
    c.path = mp.path;
    c.size_bytes = mp.total_bytes;
    c.media_type = mp.media_type();
    c.fstype = mp.fstype;
    if (claim != nullptr)
      c.claimed_by = claim->id;
    else
      c.unavailable = mount_point_unavailable(mp);
    seen.insert(c.kind + ":" + c.path);
    out.push_back(std::move(c));
  }
  for (auto& claim : claims) { // claimed, but not there any more
    if (seen.count(claim.kind + ":" + claim.path))
      continue;
    claim_candidate c;
    c.kind = claim.kind;
    c.name = claim.name;
    c.path = claim.path;
    c.size_bytes = claim.size_bytes;
    c.media_type = claim.media_type;
    c.fstype = claim.fstype;
    c.claimed_by = claim.id;
    c.unavailable = claim.kind == device_type ? "missing" : "not mounted";
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return std::tie(a.kind, a.name, a.path) < std::tie(b.kind, b.name, b.path);
  });
  return out;
}

namespace {

caf::error check_claim_request(const claim_req& req) {
  if (req.kind != device_type && req.kind != mount_point_type)
    return make_error(errc::invalid_argument,
                      "kind \"" + req.kind + "\" is not Device or MountPoint");
  if (!req.media_type.empty() && req.media_type != "ssd" && req.media_type != "hdd")
    return make_error(errc::invalid_argument,
                      "media type \"" + req.media_type + "\" is not ssd or hdd");
  if (req.max_bytes != 0 && req.max_bytes < req.min_bytes)
    return make_error(errc::invalid_argument, "limit " + std::to_string(req.max_bytes) +
                                                " bytes is below the " +
                                                std::to_string(req.min_bytes) + " required");
  return {};
}

} // namespace

caf::expected<claim_candidate> choose_claim(const std::vector<claim_candidate>& candidates,
                                            const claim_req& req) {
  if (auto err = check_claim_request(req))
    return err;
  const claim_candidate* best = nullptr;
  std::vector<std::string> looked;
  for (auto& c : candidates) {
    if (c.kind != req.kind)
      continue;
    std::string why;
    if (!c.claimed_by.empty())
      why = "claimed by " + c.claimed_by;
    else if (!c.unavailable.empty())
      why = c.unavailable;
    else if (!req.media_type.empty() && c.media_type != req.media_type)
      why = c.media_type + ", not " + req.media_type;
    else if (c.size_bytes < req.min_bytes)
      why = std::to_string(c.size_bytes) + " bytes, too small";
    else if (req.max_bytes != 0 && c.size_bytes > req.max_bytes)
      why = std::to_string(c.size_bytes) + " bytes, above the limit";
    if (!why.empty()) {
      looked.push_back(c.name + " (" + why + ")");
      continue;
    }
    if (best == nullptr || c.size_bytes < best->size_bytes)
      best = &c;
  }
  if (best != nullptr)
    return *best;
  std::string wanted =
    "no free " + noun_of(req.kind) + " of at least " + std::to_string(req.min_bytes) + " bytes";
  if (req.max_bytes != 0)
    wanted += " and at most " + std::to_string(req.max_bytes) + " bytes";
  if (!req.media_type.empty())
    wanted += " on " + req.media_type + " media";
  wanted += " for volume " + req.id;
  if (looked.empty())
    return make_error(errc::resource_exhausted,
                      wanted + ": this node has no " + noun_of(req.kind) + " to offer");
  std::string list;
  for (auto& l : looked)
    list += (list.empty() ? "" : ", ") + l;
  return make_error(errc::resource_exhausted, wanted + "; looked at " + list);
}

std::string claim_mismatch(const claim_record& claim, const claim_req& req) {
  if (claim.kind != req.kind)
    return "is a " + claim.kind + " volume";
  if (claim.size_bytes < req.min_bytes)
    return "holds " + std::to_string(claim.size_bytes) + " bytes, " +
           std::to_string(req.min_bytes) + " requested";
  if (req.max_bytes != 0 && claim.size_bytes > req.max_bytes)
    return "holds " + std::to_string(claim.size_bytes) + " bytes, above the limit of " +
           std::to_string(req.max_bytes);
  if (!req.media_type.empty() && claim.media_type != req.media_type)
    return "is on " + claim.media_type + " media, " + req.media_type + " requested";
  return {};
}

uint64_t claim_capacity(const std::vector<claim_candidate>& candidates, std::string_view type,
                        std::string_view media_type) {
  uint64_t most = 0;
  for (auto& c : candidates)
    if (c.kind == type && c.free() && (media_type.empty() || c.media_type == media_type))
      most = std::max(most, c.size_bytes);
  return most;
}

lvm::lv_info claim_lv(const claim_record& claim, const std::string& device_path, uint32_t major,
                      uint32_t minor, uint64_t size_bytes) {
  lvm::lv_info lv;
  lv.name = claim.id;
  lv.size_bytes = size_bytes;
  lv.attr = "-wi-a-----";
  lv.tags = {std::string{lv_tags::kind} + claim_kind_tag(claim.kind),
             std::string{lv_tags::id} + claim.id};
  lv.kernel_major = static_cast<int32_t>(major);
  lv.kernel_minor = static_cast<int32_t>(minor);
  lv.active = true;
  lv.path = device_path;
  return lv;
}

// -- the claims file -------------------------------------------------------------------

std::string claims_to_json(const std::vector<claim_record>& claims) {
  std::string out = "{\"version\":1,\"claims\":[";
  for (size_t i = 0; i < claims.size(); ++i) {
    auto& c = claims[i];
    out += (i ? ",\n" : "\n") + std::string{"{\"id\":"} + json_quote(c.id) +
           ",\"kind\":" + json_quote(c.kind) + ",\"path\":" + json_quote(c.path) +
           ",\"name\":" + json_quote(c.name) + ",\"sizeBytes\":" + std::to_string(c.size_bytes) +
           ",\"mediaType\":" + json_quote(c.media_type) + ",\"fstype\":" + json_quote(c.fstype) +
           ",\"wipe\":" + (c.wipe ? "true" : "false") +
           ",\"created\":" + std::to_string(c.created_s) +
           ",\"stableId\":" + json_quote(c.stable_id) + "}";
  }
  out += claims.empty() ? "]}\n" : "\n]}\n";
  return out;
}

caf::expected<std::vector<claim_record>> claims_from_json(std::string_view text,
                                                          std::string_view origin) {
  auto bad = [&](const std::string& what) {
    return make_error(errc::parse_error, "claims file " + std::string{origin} + ": " + what);
  };
  auto doc = parse_state_document(text, "claims", bad);
  if (!doc)
    return doc.error();
  auto* list = doc->as_object().if_contains("claims");
  std::vector<claim_record> claims;
  std::set<std::string> ids;
  std::set<std::string> paths;
  size_t index = 0;
  for (auto& item : list->as_array()) {
    auto where = "claims[" + std::to_string(index++) + "]";
    if (!item.is_object())
      return bad(where + " is not an object");
    auto& o = item.as_object();
    claim_record c;
    json_fields f{o, where, bad};
    for (auto err :
         {f.text("id", c.id, true), f.text("kind", c.kind, true), f.text("path", c.path, true),
          f.text("name", c.name, false), f.text("mediaType", c.media_type, false),
          f.text("fstype", c.fstype, false), f.text("stableId", c.stable_id, false),
          f.number("sizeBytes", c.size_bytes, true), f.number("created", c.created_s, false),
          f.boolean("wipe", c.wipe, false)})
      if (err)
        return err;
    if (c.id.empty())
      return bad(where + " has an empty \"id\"");
    if (c.kind != device_type && c.kind != mount_point_type)
      return bad(where + ".\"kind\" \"" + c.kind + "\" is not Device or MountPoint");
    if (c.path.empty() || c.path.front() != '/')
      return bad(where + ".\"path\" \"" + c.path + "\" is not absolute");
    if (!ids.insert(c.id).second)
      return bad("volume " + c.id + " is claimed twice");
    if (!paths.insert(c.kind + ":" + c.path).second)
      return bad(c.path + " is claimed twice");
    if (c.name.empty())
      c.name = fs::path{c.path}.filename().string();
    claims.push_back(std::move(c));
  }
  return claims;
}

caf::expected<std::vector<claim_record>> load_claims(const std::string& path) {
  auto text = read_state_file(path, "claims file");
  if (!text)
    return text.error();
  if (!*text)
    return std::vector<claim_record>{};
  return claims_from_json(**text, path);
}

caf::expected<uint64_t> save_claims(const std::string& path,
                                    const std::vector<claim_record>& claims) {
  return write_state_file(path, claims_to_json(claims), "claims file");
}

// -- blocking work -------------------------------------------------------------------

namespace {

std::string first_line(const fs::path& file) {
  std::ifstream in{file};
  std::string line;
  std::getline(in, line);
  return line;
}

/// The first line of `file` without surrounding blanks, "" when unreadable.
std::string trimmed_line(const fs::path& file) {
  auto line = first_line(file);
  auto first = line.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  auto last = line.find_last_not_of(" \t\r\n");
  return line.substr(first, last - first + 1);
}

} // namespace

std::string device_stable_id(const std::string& sysfs_root, const block_device& dev) {
  auto block = fs::path{sysfs_root} / "block";
  auto disk = dev.parent.empty() ? dev.name : dev.parent;
  auto dir = block / disk;
  std::string suffix = dev.parent.empty() ? "" : "/" + dev.name;
  for (auto [file, prefix] : {std::pair{dir / "wwid", "wwid:"},
                              {dir / "device" / "wwid", "wwid:"},
                              {dir / "serial", "serial:"},
                              {dir / "device" / "serial", "serial:"}})
    if (auto id = trimmed_line(file); !id.empty())
      return prefix + id + suffix;
  if (auto backing = trimmed_line(dir / "loop" / "backing_file"); !backing.empty())
    return "loop:" + backing + suffix;
  return {};
}

namespace {

/// queue/rotational of block device major:minor (a partition's is its disk's).
bool rotational_of(const std::string& sysfs_root, uint32_t major, uint32_t minor) {
  std::error_code ec;
  auto dir = fs::canonical(fs::path{sysfs_root} / "dev" / "block" /
                             (std::to_string(major) + ":" + std::to_string(minor)),
                           ec);
  if (ec)
    return false;
  for (auto candidate : {dir / "queue" / "rotational", dir.parent_path() / "queue" / "rotational"})
    if (fs::exists(candidate, ec))
      return first_line(candidate) == "1";
  return false;
}

/// Entries of `path` besides ".", ".." and "lost+found"; an error text when
/// it cannot be read.
std::pair<uint64_t, std::string> count_entries(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr)
    return {0, "cannot read " + path + ": " + std::strerror(errno)};
  uint64_t n = 0;
  while (auto* e = ::readdir(dir)) {
    std::string_view name = e->d_name;
    if (name != "." && name != ".." && name != "lost+found")
      ++n;
  }
  ::closedir(dir);
  return {n, {}};
}

std::string without_trailing_slash(std::string path) {
  while (path.size() > 1 && path.back() == '/')
    path.pop_back();
  return path;
}

} // namespace

std::vector<mount_point_facts> scan_mount_points(const std::string& root,
                                                 const std::vector<fs_ops::mount_entry>& table,
                                                 const std::string& sysfs_root) {
  std::vector<mount_point_facts> out;
  auto base = without_trailing_slash(root);
  if (base.empty() || base.front() != '/')
    return out;
  auto prefix = base == "/" ? base : base + "/";
  std::map<std::string, fs_ops::mount_entry> topmost; // by mount point; later mounts cover earlier
  for (auto& e : table) {
    auto& point = e.mount_point;
    if (point.size() <= prefix.size() || point.compare(0, prefix.size(), prefix) != 0 ||
        point.find('/', prefix.size()) != std::string::npos)
      continue;
    topmost[point] = e;
  }
  for (auto& [point, e] : topmost) {
    mount_point_facts mp;
    mp.path = point;
    mp.name = point.substr(prefix.size());
    mp.fstype = e.fstype;
    mp.source = e.source;
    mp.major = e.major;
    mp.minor = e.minor;
    mp.read_only = e.read_only;
    mp.rotational = rotational_of(sysfs_root, e.major, e.minor);
    if (auto stats = fs_ops::stats(point)) {
      mp.total_bytes = stats->total_bytes;
      mp.available_bytes = stats->available_bytes;
    } else {
      mp.error = render(stats.error());
    }
    auto [entries, error] = count_entries(point);
    mp.entries = entries;
    if (mp.error.empty())
      mp.error = error;
    out.push_back(std::move(mp));
  }
  return out;
}

namespace {

/// Removes the entries of the open directory `fd` (owned: closed here),
/// staying on filesystem `dev`.
caf::expected<uint64_t> clear_entries(int fd, dev_t dev, const std::string& where) {
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return errno_error(file_errc(err), "read " + where, err);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> guard{dir, ::closedir};
  std::vector<std::string> names;
  errno = 0;
  while (auto* e = ::readdir(dir)) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..")
      names.emplace_back(name);
    errno = 0;
  }
  if (errno != 0)
    return errno_error(file_errc(errno), "read " + where, errno);
  uint64_t removed = 0;
  int dfd = ::dirfd(dir);
  for (auto& name : names) {
    auto child = where + "/" + name;
    struct stat st {};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT)
        continue;
      return errno_error(file_errc(errno), "stat " + child, errno);
    }
    if (st.st_dev != dev)
      return make_error(errc::device_busy,
                        child + " belongs to another filesystem (something is mounted there); "
                                "nothing below it is removed");
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        if (errno == ENOENT)
          continue;
        return errno_error(file_errc(errno), "open " + child, errno);
      }
      struct stat opened {};
      if (::fstat(sub, &opened) != 0 || opened.st_dev != st.st_dev || opened.st_ino != st.st_ino) {
        ::close(sub);
        return make_error(errc::device_busy, child + " changed while it was being removed");
      }
      auto below = clear_entries(sub, dev, child);
      if (!below)
        return below.error();
      removed += *below;
      if (::unlinkat(dfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
        return errno_error(file_errc(errno), "remove " + child, errno);
    } else if (::unlinkat(dfd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return errno_error(file_errc(errno), "remove " + child, errno);
    }
    ++removed;
  }
  return removed;
}

} // namespace

caf::expected<uint64_t> clear_directory(const std::string& path, uint32_t major, uint32_t minor) {
  std::string op = "clear " + path;
  if (path.empty() || path.front() != '/')
    return make_error(errc::invalid_argument, op + ": not an absolute path");
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR || err == ELOOP)
      return errno_error(errc::failed_precondition, op, err);
    return errno_error(file_errc(err), op, err);
  }
  struct stat st {};
  struct stat parent {};
  if (::fstat(fd, &st) != 0 || ::fstatat(fd, "..", &parent, 0) != 0) {
    int err = errno;
    ::close(fd);
    return errno_error(file_errc(err), op, err);
  }
  auto expected = std::to_string(major) + ":" + std::to_string(minor);
  if (::major(st.st_dev) != major || ::minor(st.st_dev) != minor) {
    ::close(fd);
    return make_error(errc::failed_precondition,
                      op + ": it is on filesystem " + std::to_string(::major(st.st_dev)) + ":" +
                        std::to_string(::minor(st.st_dev)) + ", not " + expected +
                        " (is the filesystem still mounted there?)");
  }
  if (parent.st_dev == st.st_dev && parent.st_ino != st.st_ino) {
    ::close(fd);
    return make_error(errc::failed_precondition,
                      op + ": not the root of filesystem " + expected + " (not a mount point)");
  }
  auto removed = clear_entries(fd, st.st_dev, without_trailing_slash(path));
  if (!removed)
    return make_error(code_of(removed.error()), op + ": " + message_of(removed.error()));
  return removed;
}

namespace {

template <class T>
caf::result<T> answer(caf::expected<T>&& x) {
  if (!x)
    return std::move(x.error());
  return std::move(*x);
}

} // namespace

claim_runner_actor spawn_claim_runner(caf::actor_system& sys) {
  return sys.spawn<caf::detached>([]() -> claim_runner_actor::behavior_type {
    return {
      [](device_scan_req& req) {
        auto devices = discover_block_devices(req.sysfs_root);
        annotate_usage(devices);
        for (auto& dev : devices)
          dev.stable_id = device_stable_id(req.sysfs_root, dev);
        return devices;
      },
      [](mount_scan_req& req) -> caf::result<std::vector<mount_point_facts>> {
        auto table = fs_ops::read_mounts();
        if (!table)
          return std::move(table.error());
        return scan_mount_points(req.root, *table, req.sysfs_root);
      },
      [](clear_dir_command& cmd) {
        return answer(clear_directory(cmd.path, cmd.major, cmd.minor));
      },
      [](load_claims_req& req) { return answer(load_claims(req.path)); },
      [](save_claims_req& req) { return answer(save_claims(req.path, req.claims)); },
    };
  });
}

} // namespace olocal
