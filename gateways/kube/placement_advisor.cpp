#include "gateways/kube/placement_advisor.hpp"

#include "actors/core/errc.hpp"
#include "gateways/kube/client.hpp"
#include "gateways/kube/resources.hpp"

#include <caf/all.hpp>

#include <boost/json.hpp>

#include <memory>

namespace olocal::kube {

caf::expected<placement_answer> parse_placement_answer(const std::string& body) {
  boost::json::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object())
    return make_error(errc::invalid_argument, "placement answer is not a JSON object: " + body);
  auto& o = v.as_object();
  auto text = [&](const char* key) {
    auto* f = o.if_contains(key);
    return f != nullptr && f->is_string() ? std::string{f->as_string()} : std::string{};
  };
  placement_answer a;
  a.node = text("node");
  a.volume_type = text("volumeType");
  a.vg = text("vgName");
  a.unit = !text("device").empty() ? text("device") : text("disk");
  if (a.node.empty() || a.volume_type.empty())
    return make_error(errc::invalid_argument,
                      "placement answer lacks \"node\" or \"volumeType\": " + body);
  return a;
}

placement_advisor_actor spawn_placement_advisor(caf::actor_system& sys, std::string url,
                                                std::chrono::milliseconds timeout) {
  std::shared_ptr<client> api;
  caf::error init;
  try {
    connection c;
    c.server = url;
    c.qps = 0;
    c.request_timeout = timeout;
    c.max_retries = 1;
    api = std::make_shared<client>(c);
  } catch (const std::exception& e) {
    init = make_error(errc::config_invalid, "scheduler URL " + url + ": " + std::string{e.what()});
  }
  return sys.spawn<caf::detached>([api, init, url,
                                   timeout]() -> placement_advisor_actor::behavior_type {
    return {
      [api, init, url, timeout](placement_query& q) -> caf::result<placement_answer> {
        if (init)
          return init;
        api_request r;
        r.method = "POST";
        r.path = "/apis/scheduling/" + url_encode(q.pvc_namespace) + "/persistentvolumeclaims/" +
                 url_encode(q.pvc_name) + "?nodeName=" + url_encode(q.node);
        r.timeout = timeout;
        auto resp = api->send(r);
        if (resp.status == 0)
          return make_error(errc::unavailable, "scheduler placement at " + url + ": " + resp.error);
        if (resp.status != 200)
          return make_error(errc::failed_precondition,
                            "scheduler placement at " + url + " answered " +
                              std::to_string(resp.status) + ": " + resp.body);
        return parse_placement_answer(resp.body);
      },
    };
  });
}

} // namespace olocal::kube
