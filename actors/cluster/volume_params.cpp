#include "actors/cluster/volume_params.hpp"

#include "actors/core/errc.hpp"
#include "actors/node/io_limits.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <utility>

namespace olocal {

namespace {

caf::error bad(std::string_view key, const std::string& value, std::string_view accepts) {
  return make_error(errc::invalid_argument, "parameter " + std::string{key} + "=\"" + value +
                                              "\": expected " + std::string{accepts});
}

const std::string* find(const param_map& params, std::string_view key) {
  auto it = params.find(std::string{key});
  return it == params.end() ? nullptr : &it->second;
}

caf::expected<bool> parse_bool(const param_map& params, std::string_view key, bool fallback) {
  auto* v = find(params, key);
  if (v == nullptr || v->empty())
    return fallback;
  if (*v == "true" || *v == "True" || *v == "TRUE")
    return true;
  if (*v == "false" || *v == "False" || *v == "FALSE")
    return false;
  return bad(key, *v, "true or false");
}

caf::expected<uint64_t> parse_bytes(const param_map& params, std::string_view key,
                                    uint64_t fallback) {
  auto* v = find(params, key);
  if (v == nullptr || v->empty())
    return fallback;
  auto q = parse_quantity(*v);
  if (!q)
    return bad(key, *v, "a quantity such as 1048576, 1Mi or 1G");
  return q;
}

} // namespace

caf::expected<volume_params> parse_volume_params(const param_map& params) {
  volume_params p;
  if (auto* v = find(params, param_keys::volume_type); v && !v->empty()) {
    if (*v != "LVM" && *v != "Device" && *v != "MountPoint")
      return bad(param_keys::volume_type, *v, "LVM, Device or MountPoint (case-sensitive)");
    p.volume_type = *v;
  }
  auto* fstype = find(params, param_keys::fstype);
  if (fstype == nullptr)
    fstype = find(params, param_keys::fstype_legacy);
  if (fstype && !fstype->empty()) {
    if (*fstype != "ext4" && *fstype != "ext3" && *fstype != "xfs")
      return bad(param_keys::fstype, *fstype, "ext4, ext3 or xfs");
    p.fstype = *fstype;
  }
  if (auto* v = find(params, param_keys::vg_name))
    p.vg_name = *v;
  if (auto* v = find(params, param_keys::media_type); v && !v->empty()) {
    if (*v != "ssd" && *v != "hdd")
      return bad(param_keys::media_type, *v, "ssd or hdd");
    p.media_type = *v;
  }
  if (auto* v = find(params, param_keys::lvm_type); v && !v->empty()) {
    if (*v != "linear" && *v != "striping" && *v != "thin")
      return bad(param_keys::lvm_type, *v, "linear, striping or thin");
    p.lvm_type = *v;
  }
  if (auto* v = find(params, param_keys::thin_pool); v && !v->empty())
    p.thin_pool = *v;
  for (auto key : {param_keys::spdk, param_keys::direct}) {
    auto on = parse_bool(params, key, false);
    if (!on)
      return on.error();
    if (*on)
      return make_error(errc::invalid_argument,
                        "parameter " + std::string{key} +
                          "=\"true\" is not supported by this driver (SPDK and kata direct "
                          "volumes are not implemented)");
  }
  auto wipe = parse_bool(params, param_keys::wipe, true);
  if (!wipe)
    return wipe.error();
  p.wipe = *wipe;
  // open-local's iops/bps limit reads and writes alike; ours set each side
  // (one parser for the controller and the node's io-limit actor).
  auto io = io_limits::limit_from_context(params);
  if (!io)
    return io.error();
  p.read_iops = io->read_iops;
  p.write_iops = io->write_iops;
  p.read_bps = io->read_bps;
  p.write_bps = io->write_bps;
  if (p.volume_type != "LVM" && (p.read_iops || p.write_iops || p.read_bps || p.write_bps))
    return make_error(errc::invalid_argument,
                      "IO limits (iops, bps) apply to LVM volumes only, not volumeType=" +
                        p.volume_type);
  return p;
}

std::string lv_layout(const volume_params& p) {
  if (p.lvm_type == "striping")
    return "striped";
  if (p.lvm_type == "thin")
    return "thin";
  return "linear";
}

caf::expected<snapshot_params> parse_snapshot_params(const param_map& params) {
  snapshot_params s;
  auto ro = parse_bool(params, param_keys::snap_readonly, false);
  if (!ro)
    return ro.error();
  s.read_only = *ro;
  auto initial = parse_bytes(params, param_keys::snap_initial_size, s.initial_bytes);
  if (!initial)
    return initial.error();
  auto expansion = parse_bytes(params, param_keys::snap_expansion_size, s.expansion_bytes);
  if (!expansion)
    return expansion.error();
  if (*initial == 0)
    return bad(param_keys::snap_initial_size, "0", "a size above 0");
  s.initial_bytes = *initial;
  s.expansion_bytes = *expansion;
  if (auto* v = find(params, param_keys::snap_expansion_threshold); v && !v->empty()) {
    std::string_view t{*v};
    if (t.back() == '%')
      t.remove_suffix(1);
    uint32_t n = 0;
    bool ok = !t.empty() && t.size() <= 3;
    for (char c : t) {
      if (c < '0' || c > '9')
        ok = false;
      else
        n = n * 10 + static_cast<uint32_t>(c - '0');
    }
    if (!ok || n == 0 || n > 100)
      return bad(param_keys::snap_expansion_threshold, *v, "a percentage from 1% to 100%");
    s.expansion_threshold_percent = n;
  }
  return s;
}

caf::expected<ephemeral_params> parse_ephemeral_params(const param_map& attributes) {
  ephemeral_params e;
  auto vol = parse_volume_params(attributes);
  if (!vol)
    return vol.error();
  if (vol->volume_type != "LVM")
    return make_error(errc::invalid_argument,
                      "inline ephemeral volumes are LVM volumes, not " + vol->volume_type);
  if (vol->vg_name.empty())
    return make_error(errc::invalid_argument,
                      "inline ephemeral volume: attribute vgName is required");
  e.volume = std::move(*vol);
  auto size = parse_bytes(attributes, param_keys::size, e.size_bytes);
  if (!size)
    return size.error();
  if (*size == 0)
    return bad(param_keys::size, "0", "a size above 0");
  e.size_bytes = *size;
  return e;
}

std::string lv_name_for(std::string_view csi_name) {
  auto dm_bytes =
    csi_name.size() + static_cast<size_t>(std::count(csi_name.begin(), csi_name.end(), '-'));
  if (dm_bytes <= max_plain_lv_name)
    return std::string{csi_name};
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(csi_name.data()), csi_name.size(), digest.data());
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "olocal-";
  for (size_t i = 0; i < 16; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

} // namespace olocal
