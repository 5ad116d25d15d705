#include "actors/cluster/volume_params.hpp"

#include "actors/core/errc.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <utility>

namespace olocal {

namespace {

__extension__ using u128 = unsigned __int128; // exact arithmetic up to 2^64 * 2^60

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

/// A non-negative integer (IOPS).
caf::expected<uint64_t> parse_count(const param_map& params, std::string_view key) {
  auto* v = find(params, key);
  if (v == nullptr || v->empty())
    return uint64_t{0};
  uint64_t n = 0;
  for (char c : *v) {
    if (c < '0' || c > '9')
      return bad(key, *v, "a whole number of operations per second");
    if (n > (std::numeric_limits<uint64_t>::max() - 9) / 10)
      return bad(key, *v, "a number below 2^64");
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
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

caf::expected<uint64_t> parse_quantity(std::string_view text) {
  auto fail = [&] {
    return make_error(errc::invalid_argument, "\"" + std::string{text} + "\" is not a quantity");
  };
  if (text.empty())
    return fail();
  size_t i = 0;
  if (text[0] == '+')
    ++i;
  // integer and fraction digits
  u128 whole = 0;
  u128 frac_num = 0;
  u128 frac_den = 1;
  bool digits = false;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    digits = true;
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > std::numeric_limits<uint64_t>::max())
      return fail();
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      digits = true;
      if (frac_den < 1'000'000'000'000'000'000ull) { // 18 digits are more than a byte needs
        frac_num = frac_num * 10 + static_cast<unsigned>(text[i] - '0');
        frac_den *= 10;
      }
    }
  }
  if (!digits)
    return fail();
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 12> suffixes{{
    {"Ki", 1ull << 10},
    {"Mi", 1ull << 20},
    {"Gi", 1ull << 30},
    {"Ti", 1ull << 40},
    {"Pi", 1ull << 50},
    {"Ei", 1ull << 60},
    {"k", 1'000ull},
    {"M", 1'000'000ull},
    {"G", 1'000'000'000ull},
    {"T", 1'000'000'000'000ull},
    {"P", 1'000'000'000'000'000ull},
    {"E", 1'000'000'000'000'000'000ull},
  }};
  auto rest = text.substr(i);
  uint64_t mult = 1;
  if (!rest.empty()) {
    bool known = false;
    for (auto& [s, m] : suffixes)
      if (rest == s) {
        mult = m;
        known = true;
      }
    if (!known)
      return fail();
  }
  u128 bytes = whole * mult + (frac_num * mult + frac_den - 1) / frac_den;
  if (bytes > std::numeric_limits<uint64_t>::max())
    return fail();
  return static_cast<uint64_t>(bytes);
}

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
  // open-local's iops/bps limit reads and writes alike; ours set each side.
  auto iops = parse_count(params, param_keys::iops);
  auto bps = parse_bytes(params, param_keys::bps, 0);
  auto riops = parse_count(params, param_keys::read_iops);
  auto wiops = parse_count(params, param_keys::write_iops);
  auto rbps = parse_bytes(params, param_keys::read_bps, 0);
  auto wbps = parse_bytes(params, param_keys::write_bps, 0);
  for (auto* x : {&iops, &riops, &wiops, &bps, &rbps, &wbps})
    if (!*x)
      return x->error();
  p.read_iops = *riops ? *riops : *iops;
  p.write_iops = *wiops ? *wiops : *iops;
  p.read_bps = *rbps ? *rbps : *bps;
  p.write_bps = *wbps ? *wbps : *bps;
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
