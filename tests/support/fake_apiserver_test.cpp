// Tests of the fake Kubernetes API server, driven over real HTTP(S) by libcurl
// (an independent client), plus the direct access API.

#include "tests/support/fake_apiserver.hpp"

#include <boost/json.hpp>
#include <curl/curl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace olocal::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class curl_environment : public ::testing::Environment {
public:
  void SetUp() override { curl_global_init(CURL_GLOBAL_DEFAULT); }
  void TearDown() override { curl_global_cleanup(); }
};
const auto* const curl_env = ::testing::AddGlobalTestEnvironment(new curl_environment);

/// How a test client reaches the server.
struct client_config {
  std::string base_url;
  std::string ca_pem;           ///< trust only this CA ("" = plain HTTP)
  std::string token;            ///< bearer token, "" = none
  std::optional<pem_pair> cert; ///< client certificate
  long timeout_ms = 10'000;
};

void apply(CURL* h, const client_config& cfg, std::string_view path) {
  std::string url = cfg.base_url + std::string(path);
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  if (!cfg.ca_pem.empty()) {
    curl_blob ca{const_cast<char*>(cfg.ca_pem.data()), cfg.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  }
  if (cfg.cert) {
    curl_blob cert{const_cast<char*>(cfg.cert->cert.data()), cfg.cert->cert.size(), CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(cfg.cert->key.data()), cfg.cert->key.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
}

size_t append_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t collect_header(char* data, size_t size, size_t n, void* user) {
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of("\r\n ") + 1);
    (*static_cast<std::map<std::string, std::string>*>(user))[name] = value;
  }
  return size * n;
}

struct reply {
  CURLcode rc = CURLE_OK;
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  long new_connections = 0;

  json::object json() const {
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    return !ec && v.is_object() ? v.get_object() : json::object{};
  }
};

/// A keep-alive client: one curl handle reused for every request.
class client {
public:
  explicit client(client_config cfg) : cfg_(std::move(cfg)), h_(curl_easy_init()) {}
  ~client() { curl_easy_cleanup(h_); }
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  reply request(const std::string& method, const std::string& path, const std::string& body = {},
                const std::string& content_type = "application/json",
                const std::vector<std::string>& extra_headers = {}) {
    reply r;
    curl_easy_reset(h_);
    apply(h_, cfg_, path);
    curl_easy_setopt(h_, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(h_, CURLOPT_TIMEOUT_MS, cfg_.timeout_ms);
    curl_slist* headers = nullptr;
    if (!cfg_.token.empty())
      headers = curl_slist_append(headers, ("Authorization: Bearer " + cfg_.token).c_str());
    headers = curl_slist_append(headers, "Accept: application/json");
    for (const auto& h : extra_headers)
      headers = curl_slist_append(headers, h.c_str());
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
      curl_easy_setopt(h_, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(h_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    curl_easy_setopt(h_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h_, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h_, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(h_, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(h_, CURLOPT_HEADERDATA, &r.headers);
    r.rc = curl_easy_perform(h_);
    curl_easy_getinfo(h_, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(h_, CURLINFO_NUM_CONNECTS, &r.new_connections);
    curl_slist_free_all(headers);
    return r;
  }
  reply get(const std::string& path) { return request("GET", path); }
  reply post(const std::string& path, const json::value& body) {
    return request("POST", path, json::serialize(body));
  }
  reply put(const std::string& path, const json::value& body) {
    return request("PUT", path, json::serialize(body));
  }
  reply merge_patch(const std::string& path, const json::value& body) {
    return request("PATCH", path, json::serialize(body), "application/merge-patch+json");
  }
  reply del(const std::string& path, const std::string& body = {}) {
    return request("DELETE", path, body);
  }

private:
  client_config cfg_;
  CURL* h_;
};

/// A watch request on its own thread; events are parsed line by line as they arrive.
class watch_stream {
public:
  watch_stream(const client_config& cfg, const std::string& path)
    : cfg_(cfg), path_(path), multi_(curl_multi_init()), easy_(curl_easy_init()) {
    apply(easy_, cfg_, path_);
    if (!cfg_.token.empty())
      headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + cfg_.token).c_str());
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, &headers_seen_);
    curl_multi_add_handle(multi_, easy_);
    thread_ = std::thread([this] { run(); });
  }
  ~watch_stream() {
    stop_ = true;
    curl_multi_wakeup(multi_);
    thread_.join();
    curl_multi_remove_handle(multi_, easy_);
    curl_easy_cleanup(easy_);
    curl_multi_cleanup(multi_);
    curl_slist_free_all(headers_);
  }
  watch_stream(const watch_stream&) = delete;
  watch_stream& operator=(const watch_stream&) = delete;

  /// The next event, or nullopt when none arrives in time or the stream ended.
  std::optional<json::object> next(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return !events_.empty() || finished_; });
    if (events_.empty())
      return std::nullopt;
    json::object e = std::move(events_.front());
    events_.pop_front();
    return e;
  }

  /// The next event that is not a BOOKMARK.
  std::optional<json::object> next_change(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        return std::nullopt;
      auto e = next(left);
      if (!e || e->at("type").as_string() != "BOOKMARK")
        return e;
    }
  }

  /// Waits for the transfer to end; nullopt if it is still running at the deadline.
  std::optional<CURLcode> wait_end(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return finished_; }))
      return std::nullopt;
    return result_;
  }

  long status() {
    long code = 0;
    std::lock_guard lock(mutex_);
    code = status_;
    return code;
  }
  std::map<std::string, std::string> headers() {
    std::lock_guard lock(mutex_);
    return headers_seen_;
  }
  /// Events received so far and not yet consumed.
  std::size_t pending() {
    std::lock_guard lock(mutex_);
    return events_.size();
  }

private:
  static size_t on_data(char* data, size_t size, size_t n, void* user) {
    auto* self = static_cast<watch_stream*>(user);
    std::lock_guard lock(self->mutex_);
    self->partial_.append(data, size * n);
    std::size_t nl;
    while ((nl = self->partial_.find('\n')) != std::string::npos) {
      boost::system::error_code ec;
      json::value v = json::parse(self->partial_.substr(0, nl), ec);
      self->partial_.erase(0, nl + 1);
      if (!ec && v.is_object())
        self->events_.push_back(std::move(v.get_object()));
      else
        self->events_.push_back(json::object{{"type", "UNPARSEABLE"}});
    }
    self->cv_.notify_all();
    return size * n;
  }

  void run() {
    int running = 1;
    while (running != 0 && !stop_) {
      curl_multi_perform(multi_, &running);
      if (running == 0)
        break;
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left))
      if (msg->msg == CURLMSG_DONE)
        rc = msg->data.result;
    long code = 0;
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &code);
    std::lock_guard lock(mutex_);
    result_ = rc;
    status_ = code;
    finished_ = true;
    cv_.notify_all();
  }

  client_config cfg_;
  std::string path_;
  CURLM* multi_;
  CURL* easy_;
  curl_slist* headers_ = nullptr;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<json::object> events_;
  std::string partial_;
  std::map<std::string, std::string> headers_seen_;
  bool finished_ = false;
  CURLcode result_ = CURLE_OK;
  long status_ = 0;
};

json::object pod(const std::string& name, const std::string& node = "", json::object labels = {}) {
  json::object spec{{"containers", json::array{json::object{{"name", "c"}, {"image", "busybox"}}}}};
  if (!node.empty())
    spec["nodeName"] = node;
  json::object meta{{"name", name}};
  if (!labels.empty())
    meta["labels"] = std::move(labels);
  return json::object{{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", meta}, {"spec", spec}};
}

std::string str(const json::value& v) {
  return std::string(v.as_string());
}
std::string rv_of(const json::object& o) {
  return str(o.at("metadata").at("resourceVersion"));
}
std::string name_of(const json::object& o) {
  return str(o.at("metadata").at("name"));
}

std::vector<std::string> names(const json::object& list) {
  std::vector<std::string> out;
  for (const auto& item : list.at("items").as_array())
    out.push_back(name_of(item.as_object()));
  return out;
}

void expect_status(const reply& r, long code, const std::string& reason) {
  EXPECT_EQ(r.status, code) << r.body;
  json::object s = r.json();
  ASSERT_FALSE(s.empty()) << r.body;
  EXPECT_EQ(s.at("kind"), "Status");
  EXPECT_EQ(s.at("apiVersion"), "v1");
  EXPECT_EQ(s.at("status"), "Failure");
  EXPECT_EQ(str(s.at("reason")), reason) << r.body;
  EXPECT_EQ(s.at("code").to_number<long>(), code);
  EXPECT_TRUE(s.at("message").is_string());
}

class fake_apiserver_test : public ::testing::Test {
protected:
  fake_apiserver_options opts() {
    fake_apiserver_options o;
    o.bookmark_interval = 50ms;
    return o;
  }
  fake_apiserver server_{opts()};
  client_config cfg_{server_.base_url()};
  client http_{cfg_};
  const std::string pods_ = "/api/v1/namespaces/default/pods";
};

// ------------------------------------------------------------------ CRUD ---

TEST_F(fake_apiserver_test, create_fills_metadata_and_get_returns_it) {
  reply r = http_.post(pods_, pod("p1"));
  ASSERT_EQ(r.status, 201) << r.body;
  json::object created = r.json();
  const auto& meta = created.at("metadata").as_object();
  EXPECT_EQ(created.at("kind"), "Pod");
  EXPECT_EQ(created.at("apiVersion"), "v1");
  EXPECT_EQ(meta.at("namespace"), "default");
  EXPECT_EQ(meta.at("uid").as_string().size(), 36u);
  EXPECT_TRUE(meta.at("creationTimestamp").is_string());
  EXPECT_EQ(meta.at("generation").to_number<int>(), 1);
  EXPECT_EQ(rv_of(created), server_.resource_version());
  EXPECT_EQ(created.at("status").at("phase"), "Pending");

  reply got = http_.get(pods_ + "/p1");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json(), created);
  EXPECT_EQ(got.headers["content-type"], "application/json");

  expect_status(http_.post(pods_, pod("p1")), 409, "AlreadyExists");
  reply missing = http_.get(pods_ + "/nope");
  expect_status(missing, 404, "NotFound");
  EXPECT_EQ(missing.json().at("message"), "pods \"nope\" not found");
  EXPECT_EQ(missing.json().at("details").at("name"), "nope");
  EXPECT_EQ(missing.json().at("details").at("kind"), "pods");
}

TEST_F(fake_apiserver_test, create_validates_name_and_namespace) {
  json::object nameless = pod("x");
  nameless["metadata"].as_object().erase("name");
  reply r = http_.post(pods_, nameless);
  expect_status(r, 422, "Invalid");
  EXPECT_EQ(r.json().at("details").at("causes").at(0).at("field"), "metadata.name");

  nameless["metadata"].as_object()["generateName"] = "gen-";
  reply generated = http_.post(pods_, nameless);
  ASSERT_EQ(generated.status, 201) << generated.body;
  std::string name = name_of(generated.json());
  EXPECT_EQ(name.rfind("gen-", 0), 0u);
  EXPECT_EQ(name.size(), 9u);

  json::object elsewhere = pod("p2");
  elsewhere["metadata"].as_object()["namespace"] = "other";
  expect_status(http_.post(pods_, elsewhere), 400, "BadRequest");
  expect_status(http_.post(pods_, pod("Not_Valid")), 422, "Invalid");
  expect_status(http_.request("POST", pods_, "{not json"), 400, "BadRequest");
  expect_status(http_.get("/api/v1/nothings"), 404, "NotFound");
  expect_status(http_.get("/api/v1/namespaces/default/nodes"), 404, "NotFound");
}

TEST_F(fake_apiserver_test, update_checks_resource_version_and_bumps_generation) {
  json::object created = http_.post(pods_, pod("p1")).json();
  std::string rv1 = rv_of(created);

  json::object changed = created;
  changed["spec"].as_object()["nodeName"] = "n1";
  reply ok = http_.put(pods_ + "/p1", changed);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_NE(rv_of(ok.json()), rv1);
  EXPECT_EQ(ok.json().at("metadata").at("generation").to_number<int>(), 2);
  EXPECT_EQ(ok.json().at("metadata").at("uid"), created.at("metadata").at("uid"));

  // a stale resourceVersion is a conflict
  reply stale = http_.put(pods_ + "/p1", changed);
  expect_status(stale, 409, "Conflict");
  EXPECT_NE(stale.json().at("message").as_string().find("the object has been modified"),
            json::string::npos);

  // no resourceVersion: unconditional; a label change does not bump generation
  json::object labelled = ok.json();
  labelled["metadata"].as_object().erase("resourceVersion");
  labelled["metadata"].as_object()["labels"] = json::object{{"a", "b"}};
  reply unconditional = http_.put(pods_ + "/p1", labelled);
  ASSERT_EQ(unconditional.status, 200) << unconditional.body;
  EXPECT_EQ(unconditional.json().at("metadata").at("generation").to_number<int>(), 2);

  // writing the same object again changes nothing, not even the resourceVersion
  std::string before = server_.resource_version();
  reply same = http_.put(pods_ + "/p1", unconditional.json());
  ASSERT_EQ(same.status, 200);
  EXPECT_EQ(rv_of(same.json()), before);
  EXPECT_EQ(server_.resource_version(), before);

  json::object renamed = unconditional.json();
  renamed["metadata"].as_object()["name"] = "p2";
  expect_status(http_.put(pods_ + "/p1", renamed), 400, "BadRequest");
  expect_status(http_.put(pods_ + "/missing", pod("missing")), 404, "NotFound");
}

TEST_F(fake_apiserver_test, status_subresource_is_isolated) {
  json::object created = http_.post(pods_, pod("p1")).json();

  // PUT on the object keeps the stored status
  json::object both = created;
  both["status"] = json::object{{"phase", "Running"}};
  both["spec"].as_object()["nodeName"] = "n1";
  json::object main = http_.put(pods_ + "/p1", both).json();
  EXPECT_EQ(main.at("status").at("phase"), "Pending");
  EXPECT_EQ(main.at("spec").at("nodeName"), "n1");

  // PUT on /status changes only the status
  json::object status_write = main;
  status_write["status"] = json::object{{"phase", "Running"}};
  status_write["spec"].as_object()["nodeName"] = "n2";
  reply r = http_.put(pods_ + "/p1/status", status_write);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json().at("status").at("phase"), "Running");
  EXPECT_EQ(r.json().at("spec").at("nodeName"), "n1");
  EXPECT_EQ(r.json().at("metadata").at("generation").to_number<int>(), 2);

  // custom resources with a status subresource drop .status on create
  json::object nls{{"apiVersion", "csi.aliyun.com/v1alpha1"},
                   {"kind", "NodeLocalStorage"},
                   {"metadata", {{"name", "node-1"}}},
                   {"spec", {{"nodeName", "node-1"}}},
                   {"status", {{"filteredStorageInfo", {{"volumeGroups", json::array{"vg"}}}}}}};
  const std::string nls_path = "/apis/csi.aliyun.com/v1alpha1/nodelocalstorages";
  reply made = http_.post(nls_path, nls);
  ASSERT_EQ(made.status, 201) << made.body;
  EXPECT_EQ(made.json().if_contains("status"), nullptr);
  reply status = http_.merge_patch(nls_path + "/node-1/status", nls);
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.json().at("status").at("filteredStorageInfo").at("volumeGroups").at(0), "vg");
  EXPECT_EQ(status.json().at("metadata").at("generation").to_number<int>(), 1);

  expect_status(http_.get("/apis/storage.k8s.io/v1/storageclasses/x/status"), 404, "NotFound");
}

TEST_F(fake_apiserver_test, merge_patch_merges_deletes_and_checks_preconditions) {
  json::object p = pod("p1", "", {{"keep", "1"}, {"drop", "2"}});
  json::object created = http_.post(pods_, p).json();

  reply r = http_.merge_patch(
    pods_ + "/p1", json::object{{"metadata", {{"labels", {{"drop", nullptr}, {"new", "3"}}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  json::object labels = r.json().at("metadata").at("labels").as_object();
  EXPECT_EQ(labels, (json::object{{"keep", "1"}, {"new", "3"}}));

  // a resourceVersion in the patch is a precondition
  reply stale = http_.merge_patch(
    pods_ + "/p1",
    json::object{{"metadata", {{"resourceVersion", rv_of(created)}, {"labels", {{"x", "y"}}}}}});
  expect_status(stale, 409, "Conflict");
  reply fresh = http_.merge_patch(
    pods_ + "/p1",
    json::object{{"metadata", {{"resourceVersion", rv_of(r.json())}, {"labels", {{"x", "y"}}}}}});
  EXPECT_EQ(fresh.status, 200) << fresh.body;

  // a status written through the main resource is ignored, through /status it lands
  reply main = http_.merge_patch(pods_ + "/p1", json::object{{"status", {{"phase", "Failed"}}}});
  EXPECT_EQ(main.json().at("status").at("phase"), "Pending");
  reply status =
    http_.merge_patch(pods_ + "/p1/status", json::object{{"status", {{"phase", "Failed"}}}});
  EXPECT_EQ(status.json().at("status").at("phase"), "Failed");

  expect_status(
    http_.request("PATCH", pods_ + "/p1", "{}", "application/strategic-merge-patch+json"), 415,
    "UnsupportedMediaType");
  expect_status(http_.request("PATCH", pods_ + "/p1", "{}", "application/apply-patch+yaml"), 415,
                "UnsupportedMediaType");
  expect_status(http_.merge_patch(pods_ + "/nope", json::object{}), 404, "NotFound");

  reply jp = http_.request("PATCH", pods_ + "/p1",
                           R"([{"op":"test","path":"/metadata/labels/keep","value":"1"},)"
                           R"({"op":"replace","path":"/metadata/labels/keep","value":"9"},)"
                           R"({"op":"remove","path":"/metadata/labels/new"}])",
                           "application/json-patch+json");
  ASSERT_EQ(jp.status, 200) << jp.body;
  EXPECT_EQ(jp.json().at("metadata").at("labels"), (json::object{{"keep", "9"}, {"x", "y"}}));
  expect_status(http_.request("PATCH", pods_ + "/p1",
                              R"([{"op":"test","path":"/metadata/labels/keep","value":"1"}])",
                              "application/json-patch+json"),
                422, "Invalid");
}

TEST_F(fake_apiserver_test, delete_honours_preconditions_and_answers_like_the_real_server) {
  json::object created = http_.post(pods_, pod("p1")).json();
  std::string uid = str(created.at("metadata").at("uid"));

  reply wrong_uid = http_.del(pods_ + "/p1", R"({"preconditions":{"uid":"other"}})");
  expect_status(wrong_uid, 409, "Conflict");
  EXPECT_NE(wrong_uid.json().at("message").as_string().find("Precondition failed: UID"),
            json::string::npos);
  expect_status(http_.del(pods_ + "/p1", R"({"preconditions":{"resourceVersion":"1"}})"), 409,
                "Conflict");

  std::string body = R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":")" + uid +
                     R"(","resourceVersion":")" + rv_of(created) + R"("}})";
  reply gone = http_.del(pods_ + "/p1", body);
  ASSERT_EQ(gone.status, 200) << gone.body;
  EXPECT_EQ(gone.json().at("kind"), "Pod"); // pods answer with the deleted object
  EXPECT_EQ(rv_of(gone.json()), server_.resource_version());
  expect_status(http_.get(pods_ + "/p1"), 404, "NotFound");
  expect_status(http_.del(pods_ + "/p1"), 404, "NotFound");

  // leases (like most resources) answer with a success Status
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases";
  ASSERT_EQ(
    http_.post(leases, json::object{{"metadata", {{"name", "l"}}}, {"spec", json::object{}}})
      .status,
    201);
  reply status = http_.del(leases + "/l");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(status.json().at("kind"), "Status");
  EXPECT_EQ(status.json().at("status"), "Success");
  EXPECT_EQ(status.json().at("details").at("group"), "coordination.k8s.io");
}

// ------------------------------------------------------------------ list ---

TEST_F(fake_apiserver_test, list_filters_with_label_and_field_selectors) {
  server_.put("pods", json::object{{"metadata",
                                    {{"name", "a"},
                                     {"namespace", "default"},
                                     {"labels", {{"app", "x"}, {"tier", "1"}}}}},
                                   {"spec", {{"nodeName", "n1"}}},
                                   {"status", {{"phase", "Running"}}}});
  server_.put("pods",
              json::object{
                {"metadata", {{"name", "b"}, {"namespace", "default"}, {"labels", {{"app", "y"}}}}},
                {"spec", {{"nodeName", "n2"}}},
                {"status", {{"phase", "Pending"}}}});
  server_.put(
    "pods", json::object{
              {"metadata",
               {{"name", "c"}, {"namespace", "other"}, {"labels", {{"app", "x"}, {"tier", "3"}}}}},
              {"spec", json::object{}},
              {"status", {{"phase", "Running"}}}});

  reply all = http_.get("/api/v1/pods");
  ASSERT_EQ(all.status, 200) << all.body;
  json::object list = all.json();
  EXPECT_EQ(list.at("kind"), "PodList");
  EXPECT_EQ(list.at("apiVersion"), "v1");
  EXPECT_EQ(rv_of(list), server_.resource_version());
  EXPECT_EQ(names(list), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(list.at("items").at(0).as_object().if_contains("kind"), nullptr);

  auto select = [&](const std::string& query) {
    reply r = http_.get("/api/v1/pods?" + query);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    return names(r.json());
  };
  using v = std::vector<std::string>;
  EXPECT_EQ(select("labelSelector=app%3Dx"), (v{"a", "c"}));
  EXPECT_EQ(select("labelSelector=app%3D%3Dy"), (v{"b"}));
  EXPECT_EQ(select("labelSelector=app!%3Dx"), (v{"b"}));
  EXPECT_EQ(select("labelSelector=tier"), (v{"a", "c"}));
  EXPECT_EQ(select("labelSelector=!tier"), (v{"b"}));
  EXPECT_EQ(select("labelSelector=tier+in+(1,2)"), (v{"a"}));
  EXPECT_EQ(select("labelSelector=tier%20notin%20(1)"), (v{"b", "c"}));
  EXPECT_EQ(select("labelSelector=app%3Dx,tier%20in%20(3)"), (v{"c"}));
  EXPECT_EQ(select("labelSelector=tier>2"), (v{"c"}));
  EXPECT_EQ(select("fieldSelector=spec.nodeName%3Dn1"), (v{"a"}));
  EXPECT_EQ(select("fieldSelector=spec.nodeName%3D"), (v{"c"}));
  EXPECT_EQ(select("fieldSelector=status.phase!%3DRunning"), (v{"b"}));
  EXPECT_EQ(select("fieldSelector=metadata.namespace%3D%3Dother"), (v{"c"}));
  EXPECT_EQ(select("fieldSelector=metadata.name%3Da,status.phase%3DRunning"), (v{"a"}));
  EXPECT_EQ(select("labelSelector=app%3Dx&fieldSelector=metadata.namespace%3Ddefault"), (v{"a"}));
  EXPECT_EQ(names(http_.get("/api/v1/namespaces/other/pods").json()), (v{"c"}));

  expect_status(http_.get("/api/v1/pods?labelSelector=app%20in%20x"), 400, "BadRequest");
  expect_status(http_.get("/api/v1/pods?fieldSelector=nooperator"), 400, "BadRequest");

  // custom resources keep kind and apiVersion on their items
  server_.put("nodelocalstorages", json::object{{"metadata", {{"name", "n1"}}}});
  json::object crs = http_.get("/apis/csi.aliyun.com/v1alpha1/nodelocalstorages").json();
  EXPECT_EQ(crs.at("kind"), "NodeLocalStorageList");
  EXPECT_EQ(crs.at("items").at(0).at("kind"), "NodeLocalStorage");
}

TEST_F(fake_apiserver_test, paging_serves_a_consistent_snapshot) {
  for (const char* n : {"a", "b", "c", "d", "e"})
    server_.put("nodes", json::object{{"metadata", {{"name", n}}}});
  const std::string nodes = "/api/v1/nodes";

  json::object page1 = http_.get(nodes + "?limit=2").json();
  EXPECT_EQ(names(page1), (std::vector<std::string>{"a", "b"}));
  std::string token = str(page1.at("metadata").at("continue"));
  EXPECT_EQ(page1.at("metadata").at("remainingItemCount").to_number<int>(), 3);
  std::string snapshot_rv = rv_of(page1);

  // changes after the first page do not show in the later pages
  server_.remove("nodes", "", "c");
  server_.put("nodes", json::object{{"metadata", {{"name", "bb"}}}});

  json::object page2 = http_.get(nodes + "?limit=2&continue=" + token).json();
  EXPECT_EQ(names(page2), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(rv_of(page2), snapshot_rv);
  json::object page3 =
    http_.get(nodes + "?limit=2&continue=" + str(page2.at("metadata").at("continue"))).json();
  EXPECT_EQ(names(page3), (std::vector<std::string>{"e"}));
  EXPECT_EQ(page3.at("metadata").as_object().if_contains("continue"), nullptr);

  // a fresh list sees the changes; a token whose snapshot was compacted is Expired
  EXPECT_EQ(names(http_.get(nodes).json()), (std::vector<std::string>{"a", "b", "bb", "d", "e"}));
  server_.compact_all();
  expect_status(http_.get(nodes + "?limit=2&continue=" + token), 410, "Expired");
  expect_status(http_.get(nodes + "?limit=2&continue=garbage!"), 400, "BadRequest");
}

// ----------------------------------------------------------------- watch ---

TEST_F(fake_apiserver_test, watch_from_zero_sends_synthetic_adds_then_live_events) {
  server_.put("pods", json::object{{"metadata", {{"name", "a"}, {"namespace", "default"}}}});
  server_.put("pods", json::object{{"metadata", {{"name", "b"}, {"namespace", "default"}}}});
  watch_stream w(cfg_, pods_ + "?watch=1&resourceVersion=0");
  auto a = w.next();
  auto b = w.next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->at("type"), "ADDED");
  EXPECT_EQ(name_of(a->at("object").as_object()), "a");
  EXPECT_EQ(a->at("object").at("kind"), "Pod");
  EXPECT_EQ(a->at("object").at("apiVersion"), "v1");
  EXPECT_EQ(name_of(b->at("object").as_object()), "b");
  EXPECT_EQ(w.headers()["transfer-encoding"], "chunked");
  ASSERT_TRUE(server_.wait_for_open_watches(1, 5s));

  json::object changed =
    http_.merge_patch(pods_ + "/a", json::object{{"metadata", {{"labels", {{"x", "1"}}}}}}).json();
  ASSERT_EQ(http_.del(pods_ + "/b").status, 200);
  ASSERT_EQ(http_.post(pods_, pod("c")).status, 201);

  auto m = w.next_change();
  auto d = w.next_change();
  auto c = w.next_change();
  ASSERT_TRUE(m && d && c);
  EXPECT_EQ(m->at("type"), "MODIFIED");
  EXPECT_EQ(m->at("object").as_object(), changed);
  EXPECT_EQ(d->at("type"), "DELETED");
  EXPECT_EQ(name_of(d->at("object").as_object()), "b");
  EXPECT_EQ(c->at("type"), "ADDED");
  auto rv = [](const json::object& e) { return std::stoull(rv_of(e.at("object").as_object())); };
  EXPECT_LT(rv(*m), rv(*d));
  EXPECT_LT(rv(*d), rv(*c));
}

TEST_F(fake_apiserver_test, watch_from_a_resource_version_replays_history) {
  server_.put("nodes", json::object{{"metadata", {{"name", "n1"}}}});
  std::string from = server_.resource_version();
  server_.put("nodes", json::object{{"metadata", {{"name", "n2"}}}});
  server_.put("nodes", json::object{{"metadata", {{"name", "n1"}, {"labels", {{"l", "v"}}}}}});
  server_.remove("nodes", "", "n2");
  server_.put("pods", json::object{{"metadata", {{"name", "p"}, {"namespace", "default"}}}});

  watch_stream w(cfg_, "/api/v1/nodes?watch=true&resourceVersion=" + from);
  std::vector<std::string> seen;
  std::uint64_t last = std::stoull(from);
  for (int i = 0; i < 3; ++i) {
    auto e = w.next_change();
    ASSERT_TRUE(e);
    seen.push_back(str(e->at("type")) + " " + name_of(e->at("object").as_object()));
    auto rv = std::stoull(rv_of(e->at("object").as_object()));
    EXPECT_GT(rv, last);
    last = rv;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED n2", "MODIFIED n1", "DELETED n2"}));
  ASSERT_TRUE(server_.wait_for_open_watches(1, 5s));
  server_.put("nodes", json::object{{"metadata", {{"name", "n3"}}}});
  auto live = w.next_change();
  ASSERT_TRUE(live);
  EXPECT_EQ(name_of(live->at("object").as_object()), "n3");
  EXPECT_FALSE(w.next_change(100ms)); // nothing twice
}

TEST_F(fake_apiserver_test, bookmarks_carry_the_current_resource_version) {
  server_.put("pods", json::object{{"metadata", {{"name", "a"}, {"namespace", "default"}}}});
  watch_stream w(cfg_, pods_ + "?watch=1&allowWatchBookmarks=true&resourceVersion=" +
                         server_.resource_version());
  ASSERT_TRUE(server_.wait_for_open_watches(1, 5s));
  server_.put("nodes", json::object{{"metadata", {{"name", "n"}}}}); // another resource moves rv
  std::optional<json::object> bookmark;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    bookmark = w.next(1s);
    if (bookmark && bookmark->at("type") == "BOOKMARK" &&
        rv_of(bookmark->at("object").as_object()) == server_.resource_version())
      break;
  }
  ASSERT_TRUE(bookmark);
  EXPECT_EQ(bookmark->at("type"), "BOOKMARK");
  EXPECT_EQ(bookmark->at("object").at("kind"), "Pod");
  EXPECT_EQ(rv_of(bookmark->at("object").as_object()), server_.resource_version());

  // without allowWatchBookmarks there are none
  watch_stream quiet(cfg_, pods_ + "?watch=1&resourceVersion=" + server_.resource_version());
  EXPECT_FALSE(quiet.next(300ms));
}

TEST_F(fake_apiserver_test, send_initial_events_ends_with_the_marked_bookmark) {
  server_.put("pods", json::object{{"metadata", {{"name", "a"}, {"namespace", "default"}}}});
  watch_stream w(cfg_, pods_ + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                               "&resourceVersionMatch=NotOlderThan&resourceVersion=");
  auto a = w.next();
  auto end = w.next();
  ASSERT_TRUE(a && end);
  EXPECT_EQ(a->at("type"), "ADDED");
  EXPECT_EQ(end->at("type"), "BOOKMARK");
  EXPECT_EQ(end->at("object").at("metadata").at("annotations").at("k8s.io/initial-events-end"),
            "true");
}

TEST_F(fake_apiserver_test, watch_from_a_compacted_version_gets_410_expired) {
  server_.put("nodes", json::object{{"metadata", {{"name", "n1"}}}});
  std::string old = server_.resource_version();
  server_.put("nodes", json::object{{"metadata", {{"name", "n2"}}}});
  server_.put("nodes", json::object{{"metadata", {{"name", "n3"}}}});
  server_.compact(std::stoull(old) + 1);

  watch_stream w(cfg_, "/api/v1/nodes?watch=1&resourceVersion=" + old);
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->at("type"), "ERROR");
  const auto& status = e->at("object").as_object();
  EXPECT_EQ(status.at("kind"), "Status");
  EXPECT_EQ(status.at("code").to_number<int>(), 410);
  EXPECT_EQ(status.at("reason"), "Expired");
  EXPECT_EQ(str(status.at("message")),
            "too old resource version: " + old + " (" + std::to_string(std::stoull(old) + 2) + ")");
  auto rc = w.wait_end();
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, CURLE_OK);
  EXPECT_EQ(w.status(), 200);
  EXPECT_EQ(w.pending(), 0u);

  // the compaction point itself is still watchable
  watch_stream ok(cfg_,
                  "/api/v1/nodes?watch=1&resourceVersion=" + std::to_string(std::stoull(old) + 1));
  auto added = ok.next();
  ASSERT_TRUE(added);
  EXPECT_EQ(added->at("type"), "ADDED");
  EXPECT_EQ(name_of(added->at("object").as_object()), "n3");
}

TEST_F(fake_apiserver_test, selector_transitions_become_deleted_and_added) {
  server_.put(
    "pods", json::object{
              {"metadata", {{"name", "a"}, {"namespace", "default"}, {"labels", {{"app", "x"}}}}}});
  watch_stream w(cfg_, pods_ + "?watch=1&labelSelector=app%3Dx");
  auto first = w.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->at("type"), "ADDED");
  ASSERT_TRUE(server_.wait_for_open_watches(1, 5s));

  json::object moved =
    http_.merge_patch(pods_ + "/a", json::object{{"metadata", {{"labels", {{"app", "y"}}}}}})
      .json();
  auto gone = w.next();
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->at("type"), "DELETED");
  // the previous content at the new resourceVersion, like the watch cache
  EXPECT_EQ(gone->at("object").at("metadata").at("labels").at("app"), "x");
  EXPECT_EQ(rv_of(gone->at("object").as_object()), rv_of(moved));

  http_.merge_patch(pods_ + "/a", json::object{{"metadata", {{"annotations", {{"n", "1"}}}}}});
  http_.merge_patch(pods_ + "/a", json::object{{"metadata", {{"labels", {{"app", "x"}}}}}});
  auto back = w.next();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->at("type"), "ADDED"); // the annotation change while not matching was not sent
  EXPECT_EQ(back->at("object").at("metadata").at("annotations").at("n"), "1");
}

TEST_F(fake_apiserver_test, watch_of_one_object_and_of_a_namespace) {
  watch_stream one(cfg_, pods_ + "?watch=1&fieldSelector=metadata.name%3Db");
  watch_stream legacy(cfg_, "/api/v1/watch/namespaces/other/pods");
  ASSERT_TRUE(server_.wait_for_open_watches(2, 5s));
  server_.put("pods", json::object{{"metadata", {{"name", "a"}, {"namespace", "default"}}}});
  server_.put("pods", json::object{{"metadata", {{"name", "b"}, {"namespace", "default"}}}});
  server_.put("pods", json::object{{"metadata", {{"name", "b"}, {"namespace", "other"}}}});
  auto e = one.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->at("object").at("metadata").at("namespace"), "default");
  auto o = legacy.next();
  ASSERT_TRUE(o);
  EXPECT_EQ(o->at("object").at("metadata").at("namespace"), "other");
  EXPECT_FALSE(one.next(100ms));
}

TEST_F(fake_apiserver_test, a_client_closing_its_watch_unregisters_it) {
  {
    watch_stream w(cfg_, pods_ + "?watch=1");
    ASSERT_TRUE(server_.wait_for_open_watches(1, 5s));
    EXPECT_EQ(server_.open_watches(), 1u);
  }
  EXPECT_TRUE(server_.wait_for_watches_at_most(0, 5s));
}

TEST_F(fake_apiserver_test, drop_watches_ends_streams_abruptly) {
  watch_stream w(cfg_, pods_ + "?watch=1");
  ASSERT_TRUE(server_.wait_for_open_watches(1, 5s));
  server_.drop_watches();
  auto rc = w.wait_end();
  ASSERT_TRUE(rc);
  EXPECT_NE(*rc, CURLE_OK); // no final chunk: curl reports a partial transfer
  EXPECT_TRUE(server_.wait_for_watches_at_most(0, 5s));
  EXPECT_EQ(http_.get(pods_).status, 200); // the server itself carries on
}

TEST_F(fake_apiserver_test, watch_timeout_and_event_limit_end_streams_cleanly) {
  watch_stream timed(cfg_, pods_ + "?watch=1&timeoutSeconds=1");
  auto rc = timed.wait_end(10s);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, CURLE_OK);

  server_.set_watch_event_limit(2);
  for (const char* n : {"a", "b", "c"})
    server_.put("pods", json::object{{"metadata", {{"name", n}, {"namespace", "default"}}}});
  watch_stream limited(cfg_, pods_ + "?watch=1");
  auto end = limited.wait_end();
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, CURLE_OK);
  EXPECT_EQ(limited.pending(), 2u);
}

TEST_F(fake_apiserver_test, destructor_ends_open_watches) {
  auto server = std::make_unique<fake_apiserver>();
  client_config cfg{server->base_url()};
  watch_stream w(cfg, "/api/v1/nodes?watch=1");
  ASSERT_TRUE(server->wait_for_open_watches(1, 5s));
  server.reset();
  auto rc = w.wait_end();
  ASSERT_TRUE(rc);
  EXPECT_NE(*rc, CURLE_OK);
}

// ---------------------------------------------------------------- faults ---

TEST_F(fake_apiserver_test, fail_next_injects_errors_on_matching_requests) {
  server_.fail_next(1, 429, "/nodes", 3);
  server_.fail_next(2, 500, "/pods");
  reply other = http_.get("/api/v1/persistentvolumes");
  EXPECT_EQ(other.status, 200);
  reply throttled = http_.get("/api/v1/nodes");
  expect_status(throttled, 429, "TooManyRequests");
  EXPECT_EQ(throttled.headers["retry-after"], "3");
  EXPECT_EQ(throttled.json().at("details").at("retryAfterSeconds").to_number<int>(), 3);
  EXPECT_EQ(http_.get("/api/v1/nodes").status, 200);
  expect_status(http_.get(pods_), 500, "InternalError");
  expect_status(http_.get(pods_), 500, "InternalError");
  EXPECT_EQ(http_.get(pods_).status, 200);

  server_.fail_next(1, 503);
  EXPECT_EQ(http_.get("/api/v1/nodes").status, 503);
  EXPECT_EQ(http_.get("/api/v1/nodes").status, 200);
}

TEST_F(fake_apiserver_test, latency_delays_responses) {
  server_.set_latency(3s);
  client_config impatient = cfg_;
  impatient.timeout_ms = 200;
  client c(impatient);
  EXPECT_EQ(c.get("/api/v1/nodes").rc, CURLE_OPERATION_TIMEDOUT);
  server_.set_latency(0ms);
  EXPECT_EQ(c.get("/api/v1/nodes").status, 200);
}

// ---------------------------------------------------------- observation ---

TEST_F(fake_apiserver_test, direct_access_and_request_log) {
  json::object stored =
    server_.put("pods", json::object{{"metadata", {{"name", "a"}, {"namespace", "ns"}}},
                                     {"status", {{"phase", "Running"}}}});
  EXPECT_EQ(stored.at("status").at("phase"), "Running"); // put keeps the status it is given
  EXPECT_EQ(stored.at("kind"), "Pod");
  auto got = server_.get("pods", "ns", "a");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, stored);
  EXPECT_FALSE(server_.get("pods", "other", "a"));
  EXPECT_EQ(server_.list("pods").size(), 1u);
  EXPECT_EQ(server_.list("pods", "other").size(), 0u);
  EXPECT_THROW(server_.get("widgets", "", "x"), std::invalid_argument);

  server_.clear_request_log();
  auto before = server_.requests_served();
  reply r = http_.get("/api/v1/namespaces/ns/pods/a?x=1");
  EXPECT_EQ(r.json(), stored);
  EXPECT_EQ(server_.requests_served(), before + 1);
  auto log = server_.request_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "GET");
  EXPECT_EQ(log[0].target, "/api/v1/namespaces/ns/pods/a?x=1");
  EXPECT_EQ(log[0].status, 200);

  EXPECT_TRUE(server_.remove("pods", "ns", "a"));
  EXPECT_FALSE(server_.remove("pods", "ns", "a"));
  EXPECT_FALSE(server_.get("pods", "ns", "a"));
}

TEST_F(fake_apiserver_test, keep_alive_reuses_the_connection) {
  EXPECT_EQ(http_.get("/api/v1/nodes").new_connections, 1);
  EXPECT_EQ(http_.get("/api/v1/nodes").new_connections, 0);
  EXPECT_EQ(http_.post(pods_, pod("p")).new_connections, 0);
  // a body large enough for curl to send "Expect: 100-continue"
  json::object big = pod("big");
  big["metadata"].as_object()["annotations"] = json::object{{"blob", std::string(2 << 20, 'x')}};
  reply r = http_.post(pods_, big);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.new_connections, 0);
  // a chunked request body
  reply chunked = http_.request("POST", pods_, json::serialize(pod("chunky")), "application/json",
                                {"Transfer-Encoding: chunked"});
  EXPECT_EQ(chunked.status, 201) << chunked.body;
  EXPECT_TRUE(server_.get("pods", "default", "chunky"));
  expect_status(http_.request("POST", pods_, "a: b", "application/yaml"), 415,
                "UnsupportedMediaType");
}

TEST_F(fake_apiserver_test, discovery_documents) {
  json::object core = http_.get("/api/v1").json();
  EXPECT_EQ(core.at("kind"), "APIResourceList");
  bool has_pod_status = false;
  for (const auto& r : core.at("resources").as_array())
    has_pod_status = has_pod_status || r.at("name") == "pods/status";
  EXPECT_TRUE(has_pod_status);
  json::object groups = http_.get("/apis").json();
  EXPECT_EQ(groups.at("kind"), "APIGroupList");
  EXPECT_EQ(http_.get("/apis/csi.aliyun.com/v1alpha1").json().at("groupVersion"),
            "csi.aliyun.com/v1alpha1");
  EXPECT_EQ(http_.get("/version").json().at("major"), "1");
  EXPECT_EQ(http_.get("/healthz").body, "ok");
}

// ----------------------------------------------------------------- auth ---

TEST(fake_apiserver_tls, a_client_trusting_the_ca_connects_and_another_ca_is_refused) {
  fake_apiserver_options o;
  o.tls = make_test_pki();
  fake_apiserver server(o);
  EXPECT_EQ(server.base_url().rfind("https://127.0.0.1:", 0), 0u);

  client trusting({server.base_url(), o.tls->ca.cert});
  EXPECT_EQ(trusting.get("/api/v1/nodes").status, 200);

  client stranger({server.base_url(), make_test_pki().ca.cert});
  reply refused = stranger.get("/api/v1/nodes");
  EXPECT_EQ(refused.rc, CURLE_PEER_FAILED_VERIFICATION);
  EXPECT_EQ(refused.status, 0);

  client self_signed({server.base_url(), make_self_signed().cert});
  EXPECT_EQ(self_signed.get("/api/v1/nodes").rc, CURLE_PEER_FAILED_VERIFICATION);

  // a TLS watch streams too
  server.put("nodes", json::object{{"metadata", {{"name", "n"}}}});
  watch_stream w({server.base_url(), o.tls->ca.cert}, "/api/v1/nodes?watch=1");
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->at("type"), "ADDED");
}

TEST(fake_apiserver_auth, a_token_is_required_when_configured) {
  fake_apiserver_options o;
  o.require_token = "s3cret";
  fake_apiserver server(o);
  expect_status(client({server.base_url()}).get("/api/v1/nodes"), 401, "Unauthorized");
  expect_status(client({server.base_url(), "", "wrong"}).get("/api/v1/nodes"), 401, "Unauthorized");
  EXPECT_EQ(client({server.base_url(), "", "s3cret"}).get("/api/v1/nodes").status, 200);
  watch_stream anonymous({server.base_url()}, "/api/v1/nodes?watch=1");
  auto rc = anonymous.wait_end();
  ASSERT_TRUE(rc);
  EXPECT_EQ(anonymous.status(), 401);
  auto log = server.request_log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log[2].user, "token");
}

TEST(fake_apiserver_auth, verified_client_certificates_authenticate) {
  fake_apiserver_options o;
  o.tls = make_test_pki("node-agent");
  o.accept_client_certs = true;
  o.require_token = "s3cret";
  fake_apiserver server(o);
  const std::string& ca = o.tls->ca.cert;

  expect_status(client({server.base_url(), ca}).get("/api/v1/nodes"), 401, "Unauthorized");
  client_config with_cert{server.base_url(), ca};
  with_cert.cert = o.tls->client;
  EXPECT_EQ(client(with_cert).get("/api/v1/nodes").status, 200);
  EXPECT_EQ(server.request_log().back().user, "node-agent");
  EXPECT_EQ(client({server.base_url(), ca, "s3cret"}).get("/api/v1/nodes").status, 200);

  // a certificate from another CA does not get through the handshake
  client_config foreign{server.base_url(), ca};
  foreign.cert = make_test_pki().client;
  reply r = client(foreign).get("/api/v1/nodes");
  EXPECT_NE(r.rc, CURLE_OK);
  EXPECT_EQ(r.status, 0);
}

} // namespace
} // namespace olocal::test
