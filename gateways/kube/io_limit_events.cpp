#include "gateways/kube/io_limit_events.hpp"

#include "actors/core/log.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/resources.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace olocal::kube {

namespace {

constexpr std::string_view who = "io-limit-events";

} // namespace

io_limit_events::io_limit_events(std::shared_ptr<client> api, io_limit_event_options options)
  : api_(api), opts_(std::move(options)),
    recorder_(std::move(api), "open-local-agent", opts_.node_name, opts_.events) {
}

uint64_t io_limit_events::lookups() const {
  std::lock_guard<std::mutex> lock{mu_};
  return lookups_;
}

bool io_limit_events::find(const std::string& uid, pod_ref& out) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock{mu_};
  if (auto it = pods_.find(uid); it != pods_.end() && now - it->second.at < opts_.lookup_ttl) {
    out = it->second;
    return !out.name.empty();
  }
  // One list of this node's pods answers every UID on it.
  ++lookups_;
  api_request req;
  req.path = kinds::pod.collection_path() +
             "?fieldSelector=" + url_encode("spec.nodeName=" + opts_.node_name);
  auto resp = api_->send(req);
  if (resp.status != 200) {
    log::warn(who, "cannot list this node's pods",
              {{"status", resp.status}, {"error", resp.error.empty() ? resp.body : resp.error}});
    return false;
  }
  boost::system::error_code ec;
  auto doc = boost::json::parse(resp.body, ec);
  if (ec || !doc.is_object() || !doc.as_object().contains("items") ||
      !doc.as_object().at("items").is_array()) {
    log::warn(who, "unreadable pod list", {{"error", ec ? ec.message() : "no items"}});
    return false;
  }
  for (auto& item : doc.as_object().at("items").as_array()) {
    if (!item.is_object())
      continue;
    object pod{item.as_object()};
    if (!pod.uid().empty())
      pods_[pod.uid()] = pod_ref{pod.namespace_(), pod.name(), pod.uid(), now};
  }
  for (auto it = pods_.begin(); it != pods_.end();) // what the list no longer has
    it = it->second.at < now ? pods_.erase(it) : std::next(it);
  auto& found = pods_[uid]; // a miss is remembered too (name "")
  if (found.name.empty())
    found = pod_ref{"", "", uid, now};
  out = found;
  return !out.name.empty();
}

bool io_limit_events::report(const std::string& pod_uid, const std::string& volume_id,
                             const std::string& error) {
  if (pod_uid.empty())
    return false;
  pod_ref pod;
  if (!find(pod_uid, pod))
    return false;
  object involved{boost::json::object{
    {"apiVersion", "v1"},
    {"kind", "Pod"},
    {"metadata", {{"name", pod.name}, {"namespace", pod.ns}, {"uid", pod.uid}}}}};
  return recorder_.record(involved, "Warning", "IOLimitNotApplied",
                          "IO limit of volume " + volume_id + " is not in force: " + error);
}

} // namespace olocal::kube
