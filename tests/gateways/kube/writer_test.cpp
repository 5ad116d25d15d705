// Tests of the writers (get/create/replace/update/merge_patch/remove) against
// the fake API server, and of the one HTTP -> errc mapping table.

#include "gateways/kube/writer.hpp"

#include "actors/core/errc.hpp"
#include "gateways/kube/client.hpp"
#include "tests/support/fake_apiserver.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>

using namespace olocal;
using namespace olocal::kube;
using namespace std::chrono_literals;

namespace {

namespace json = boost::json;

json::object pod_doc(const std::string& name) {
  return json::object{{"apiVersion", "v1"},
                      {"kind", "Pod"},
                      {"metadata", {{"name", name}, {"namespace", "default"}}},
                      {"spec", {{"nodeName", "n1"}}}};
}

json::object nls_doc(const std::string& name) {
  return json::object{{"apiVersion", "csi.aliyun.com/v1alpha1"},
                      {"kind", "NodeLocalStorage"},
                      {"metadata", {{"name", name}}},
                      {"spec", {{"nodeName", name}}},
                      {"status", {{"phase", "Pending"}}}};
}

class writer_test : public ::testing::Test {
public:
  std::shared_ptr<client> make_client(std::string server_url = {}) {
    connection c;
    c.server = server_url.empty() ? server.base_url() : std::move(server_url);
    c.qps = 0; // unlimited
    c.max_retries = 2;
    c.retry_base = 1ms;
    c.retry_max = 5ms;
    c.connect_timeout = 2s;
    return std::make_shared<client>(c);
  }

  size_t requests(const std::string& method) {
    size_t n = 0;
    for (auto& r : server.request_log())
      n += r.method == method ? 1 : 0;
    return n;
  }

  test::fake_apiserver server;
  std::shared_ptr<client> api = make_client();
};

} // namespace

TEST_F(writer_test, create_get_replace_remove) {
  object fresh{json::object{{"metadata", {{"name", "a"}, {"namespace", "default"}}},
                            {"spec", {{"nodeName", "n1"}}}}};
  auto made = create(*api, kinds::pod, fresh);
  ASSERT_TRUE(made) << render(made.error());
  EXPECT_EQ(made->string_at("kind"), "Pod") << "kind and apiVersion are filled";
  EXPECT_EQ(made->string_at("apiVersion"), "v1");
  EXPECT_FALSE(made->uid().empty());
  ASSERT_TRUE(server.get("pods", "default", "a"));

  auto again = create(*api, kinds::pod, fresh);
  ASSERT_FALSE(again);
  EXPECT_EQ(code_of(again.error()), errc::already_exists);

  auto read = get(*api, kinds::pod, "default", "a");
  ASSERT_TRUE(read) << render(read.error());
  EXPECT_EQ(read->uid(), made->uid());
  EXPECT_EQ(read->string_at("kind"), "Pod");

  object changed = *read;
  changed.set_label("app", "x");
  auto written = replace(*api, kinds::pod, changed);
  ASSERT_TRUE(written) << render(written.error());
  EXPECT_EQ(written->label("app"), "x");
  EXPECT_GT(written->resource_version_number(), read->resource_version_number());

  auto stale = replace(*api, kinds::pod, changed); // still the old resourceVersion
  ASSERT_FALSE(stale);
  EXPECT_EQ(code_of(stale.error()), errc::conflict);

  EXPECT_FALSE(remove(*api, kinds::pod, "default", "a"));
  EXPECT_FALSE(server.get("pods", "default", "a"));
  auto gone = get(*api, kinds::pod, "default", "a");
  ASSERT_FALSE(gone);
  EXPECT_EQ(code_of(gone.error()), errc::not_found);
  EXPECT_NE(message_of(gone.error()).find("get pods default/a"), std::string::npos)
    << message_of(gone.error());
  EXPECT_NE(message_of(gone.error()).find("pods \"a\" not found"), std::string::npos)
    << "the server's Status message is kept: " << message_of(gone.error());
  EXPECT_EQ(code_of(remove(*api, kinds::pod, "default", "a")), errc::not_found);
}

TEST_F(writer_test, create_needs_a_namespace_for_namespaced_kinds) {
  object no_ns{json::object{{"metadata", {{"name", "a"}}}}};
  auto made = create(*api, kinds::pod, no_ns);
  ASSERT_FALSE(made);
  EXPECT_EQ(code_of(made.error()), errc::invalid_argument);
  EXPECT_EQ(requests("POST"), 0u);

  auto cluster = create(*api, kinds::node_local_storage, object{nls_doc("n1")});
  ASSERT_TRUE(cluster) << render(cluster.error());
  EXPECT_EQ(cluster->name(), "n1");
}

TEST_F(writer_test, update_reapplies_after_a_concurrent_write) {
  server.put("pods", pod_doc("a"));
  unsigned calls = 0;
  auto result = update(*api, kinds::pod, "default", "a", [&](object& o) {
    if (++calls == 1) {
      // Someone else writes between our read and our write.
      auto theirs = pod_doc("a");
      theirs["metadata"].as_object()["labels"] = json::object{{"theirs", "1"}};
      server.put("pods", theirs);
    }
    o.set_annotation("ours", "1");
    return true;
  });
  ASSERT_TRUE(result) << render(result.error());
  EXPECT_EQ(calls, 2u) << "the conflict made it read again and re-apply";
  EXPECT_EQ(result->label("theirs"), "1");
  EXPECT_EQ(result->annotation("ours"), "1");
  object stored{*server.get("pods", "default", "a")};
  EXPECT_EQ(stored.label("theirs"), "1");
  EXPECT_EQ(stored.annotation("ours"), "1");
}

TEST_F(writer_test, update_gives_up_after_its_attempts) {
  server.put("pods", pod_doc("a"));
  unsigned calls = 0;
  auto result = update(
    *api, kinds::pod, "default", "a",
    [&](object& o) {
      ++calls;
      auto theirs = pod_doc("a");
      theirs["metadata"].as_object()["labels"] = json::object{{"n", std::to_string(calls)}};
      server.put("pods", theirs);
      o.set_annotation("ours", "1");
      return true;
    },
    false, 3);
  ASSERT_FALSE(result);
  EXPECT_EQ(code_of(result.error()), errc::conflict);
  EXPECT_EQ(calls, 3u);
  EXPECT_EQ(requests("PUT"), 3u);
}

TEST_F(writer_test, update_without_changes_writes_nothing) {
  server.put("pods", pod_doc("a"));
  auto rv = server.resource_version();
  server.clear_request_log();
  auto result = update(*api, kinds::pod, "default", "a", [](object&) { return false; });
  ASSERT_TRUE(result) << render(result.error());
  EXPECT_EQ(result->name(), "a");
  EXPECT_EQ(requests("PUT"), 0u);
  EXPECT_EQ(server.resource_version(), rv);

  auto missing = update(*api, kinds::pod, "default", "nope", [](object&) { return true; });
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
}

TEST_F(writer_test, update_keeps_fields_it_does_not_know) {
  auto doc = pod_doc("a");
  doc["spec"].as_object()["futureField"] = json::object{{"x", 1}, {"y", json::array{1, 2}}};
  doc["metadata"].as_object()["annotations"] = json::object{{"other/controller", "keep"}};
  server.put("pods", doc);
  auto result = update(*api, kinds::pod, "default", "a", [](object& o) {
    o.set_label("app", "x");
    return true;
  });
  ASSERT_TRUE(result) << render(result.error());
  object stored{*server.get("pods", "default", "a")};
  ASSERT_NE(stored.at_path("spec.futureField"), nullptr);
  EXPECT_EQ(*stored.at_path("spec.futureField"),
            (json::object{{"x", 1}, {"y", json::array{1, 2}}}));
  EXPECT_EQ(stored.annotation("other/controller"), "keep");
  EXPECT_EQ(stored.label("app"), "x");
}

TEST_F(writer_test, status_writes_change_only_the_status) {
  server.put("nodelocalstorages", nls_doc("n1"));
  auto result = update(
    *api, kinds::node_local_storage, "", "n1",
    [](object& o) {
      auto& doc = o.mutable_json();
      doc["spec"].as_object()["nodeName"] = "changed";
      doc["status"].as_object()["phase"] = "Running";
      return true;
    },
    true);
  ASSERT_TRUE(result) << render(result.error());
  object stored{*server.get("nodelocalstorages", "", "n1")};
  EXPECT_EQ(stored.string_at("status.phase"), "Running");
  EXPECT_EQ(stored.string_at("spec.nodeName"), "n1") << "a status write leaves the spec";

  // And a write of the main resource leaves the status.
  auto main = update(*api, kinds::node_local_storage, "", "n1", [](object& o) {
    auto& doc = o.mutable_json();
    doc["spec"].as_object()["nodeName"] = "changed";
    doc["status"].as_object()["phase"] = "Failed";
    return true;
  });
  ASSERT_TRUE(main) << render(main.error());
  stored = object{*server.get("nodelocalstorages", "", "n1")};
  EXPECT_EQ(stored.string_at("spec.nodeName"), "changed");
  EXPECT_EQ(stored.string_at("status.phase"), "Running");

  auto patched = merge_patch(*api, kinds::node_local_storage, "", "n1",
                             json::object{{"status", {{"phase", "Ready"}}}}, true);
  ASSERT_TRUE(patched) << render(patched.error());
  EXPECT_EQ(patched->string_at("status.phase"), "Ready");
}

TEST_F(writer_test, merge_patch_null_deletes) {
  auto doc = pod_doc("a");
  doc["metadata"].as_object()["labels"] = json::object{{"a", "1"}, {"b", "2"}};
  server.put("pods", doc);
  server.clear_request_log();
  auto result = merge_patch(*api, kinds::pod, "default", "a",
                            json::object{{"metadata", {{"labels", {{"a", nullptr}, {"c", "3"}}}}}});
  ASSERT_TRUE(result) << render(result.error());
  EXPECT_EQ(result->labels(), (std::map<std::string, std::string>{{"b", "2"}, {"c", "3"}}));
  ASSERT_EQ(requests("PATCH"), 1u);
  object stored{*server.get("pods", "default", "a")};
  EXPECT_EQ(stored.labels(), (std::map<std::string, std::string>{{"b", "2"}, {"c", "3"}}));
  EXPECT_EQ(stored.string_at("spec.nodeName"), "n1");

  auto missing = merge_patch(*api, kinds::pod, "default", "nope", json::object{});
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
}

TEST_F(writer_test, remove_checks_preconditions) {
  object stored{server.put("pods", pod_doc("a"))};
  auto wrong = remove(*api, kinds::pod, "default", "a", {"not-the-uid", ""});
  EXPECT_EQ(code_of(wrong), errc::conflict) << render(wrong);
  EXPECT_TRUE(server.get("pods", "default", "a"));
  auto stale = remove(*api, kinds::pod, "default", "a", {"", "1"});
  EXPECT_EQ(code_of(stale), errc::conflict) << render(stale);
  auto right = remove(*api, kinds::pod, "default", "a", {stored.uid(), stored.resource_version()});
  EXPECT_FALSE(right) << render(right);
  EXPECT_FALSE(server.get("pods", "default", "a"));
}

TEST_F(writer_test, server_errors_map_to_codes) {
  server.put("pods", pod_doc("a"));
  struct row {
    int http;
    errc want;
  };
  // 5xx and 429 are retried by the client (max_retries = 2): three answers each.
  for (auto [http, want] :
       {row{500, errc::unavailable}, row{503, errc::unavailable}, row{429, errc::unavailable},
        row{400, errc::invalid_argument}, row{422, errc::invalid_argument},
        row{401, errc::unauthenticated}, row{403, errc::permission_denied},
        row{404, errc::not_found}, row{409, errc::conflict}, row{410, errc::failed_precondition},
        row{413, errc::payload_too_large}, row{415, errc::unimplemented},
        row{418, errc::internal}}) {
    server.fail_next(3, http, "/pods/a", http == 429 ? 0 : -1);
    auto r = get(*api, kinds::pod, "default", "a");
    ASSERT_FALSE(r) << http;
    EXPECT_EQ(code_of(r.error()), want) << http << ": " << render(r.error());
    EXPECT_NE(message_of(r.error()).find("get pods default/a"), std::string::npos) << http;
    // Leave no unconsumed rule behind for the next row.
    for (int i = 0; i < 3 && !get(*api, kinds::pod, "default", "a"); ++i) {
    }
    ASSERT_TRUE(get(*api, kinds::pod, "default", "a")) << http;
  }
}

TEST_F(writer_test, no_answer_is_unavailable) {
  auto dead = make_client("http://127.0.0.1:1");
  auto r = get(*dead, kinds::pod, "default", "a");
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), errc::unavailable) << render(r.error());
}

TEST(api_error, one_table) {
  auto body = [](int code, const std::string& reason, const std::string& message) {
    return json::serialize(json::object{{"kind", "Status"},
                                        {"apiVersion", "v1"},
                                        {"status", "Failure"},
                                        {"code", code},
                                        {"reason", reason},
                                        {"message", message}});
  };
  struct row {
    long http;
    std::string reason;
    errc want;
  };
  for (auto& [http, reason, want] :
       std::vector<row>{{404, "NotFound", errc::not_found},
                        {409, "AlreadyExists", errc::already_exists},
                        {409, "Conflict", errc::conflict},
                        {400, "BadRequest", errc::invalid_argument},
                        {422, "Invalid", errc::invalid_argument},
                        {401, "Unauthorized", errc::unauthenticated},
                        {403, "Forbidden", errc::permission_denied},
                        {410, "Expired", errc::failed_precondition},
                        {413, "RequestEntityTooLarge", errc::payload_too_large},
                        {415, "UnsupportedMediaType", errc::unimplemented},
                        {429, "TooManyRequests", errc::unavailable},
                        {500, "InternalError", errc::unavailable},
                        {502, "", errc::unavailable},
                        {504, "Timeout", errc::unavailable},
                        {0, "", errc::unavailable},
                        {405, "MethodNotAllowed", errc::internal},
                        {302, "", errc::internal}}) {
    auto err = api_error(http, body(static_cast<int>(http), reason, "the server says so"), "do x");
    EXPECT_EQ(code_of(err), want) << http << " " << reason;
    EXPECT_EQ(message_of(err), "do x: the server says so") << http;
  }
  // Without a Status body the message names the HTTP status.
  EXPECT_EQ(message_of(api_error(502, "<html>bad gateway</html>", "do x")), "do x: HTTP 502");
  EXPECT_EQ(message_of(api_error(0, "", "do x")), "do x: no answer from the API server");
}
