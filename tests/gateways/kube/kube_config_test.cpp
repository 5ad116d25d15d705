#include "gateways/kube/kube_config.hpp"

#include "tests/support/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace olocal::kube {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

namespace fs = std::filesystem;

const std::string ca_pem = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";
// base64 of ca_pem, of "client cert" and of "client key".
const std::string ca_pem_b64 =
  "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClEwRT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=";
const std::string cert_b64 = "Y2xpZW50IGNlcnQ=";
const std::string key_b64 = "Y2xpZW50IGtleQ==";

environment fake_env(std::map<std::string, std::string> vars, fs::path root = "/nonexistent") {
  environment env;
  env.lookup = [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) {
      return std::nullopt;
    }
    return it->second;
  };
  env.root = std::move(root);
  return env;
}

/// The message of the config_error `fn` throws ("" and a failure if none).
template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const config_error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no config_error thrown";
  return {};
}

/// A one-cluster, one-user kubeconfig as kubectl writes it, with extra lines
/// for the cluster and the user.
std::string kubeconfig(const std::string& cluster_fields, const std::string& user_fields,
                       const std::string& context_extra = "") {
  return "apiVersion: v1\n"
         "clusters:\n"
         "- cluster:\n" +
         cluster_fields +
         "  name: c1\n"
         "contexts:\n"
         "- context:\n"
         "    cluster: c1\n"
         "    user: u1\n" +
         context_extra +
         "  name: ctx1\n"
         "current-context: ctx1\n"
         "kind: Config\n"
         "preferences: {}\n"
         "users:\n"
         "- name: u1\n"
         "  user:\n" +
         user_fields;
}

// ---- kubeconfig fields --------------------------------------------------------

TEST(KubeConfig, EmbeddedDataAndNamespace) {
  test::temp_dir dir;
  auto path = dir.write("config", kubeconfig("    certificate-authority-data: " + ca_pem_b64 +
                                               "\n    server: https://127.0.0.1:6443/\n"
                                               "    tls-server-name: kubernetes.default\n",
                                             "    client-certificate-data: " + cert_b64 +
                                               "\n    client-key-data: " + key_b64 + "\n",
                                             "    namespace: open-local\n"));
  auto loaded = load_kubeconfig(path.string());
  EXPECT_EQ(loaded.conn.server, "https://127.0.0.1:6443");
  EXPECT_EQ(loaded.conn.ca_pem, ca_pem);
  EXPECT_TRUE(loaded.conn.ca_file.empty());
  EXPECT_EQ(loaded.conn.tls_server_name, "kubernetes.default");
  EXPECT_FALSE(loaded.conn.insecure_skip_verify);
  EXPECT_EQ(loaded.conn.client_cert_pem, "client cert");
  EXPECT_EQ(loaded.conn.client_key_pem, "client key");
  EXPECT_TRUE(loaded.conn.token.empty());
  EXPECT_EQ(loaded.namespace_, "open-local");
  EXPECT_THAT(loaded.source, AllOf(HasSubstr(path.string()), HasSubstr("ctx1")));
}

TEST(KubeConfig, RelativeFilesResolveAgainstTheKubeconfigDirectory) {
  test::temp_dir dir;
  dir.write("kube/pki/ca.crt", ca_pem);
  dir.write("kube/pki/client.crt", "cert");
  dir.write("kube/pki/client.key", "key");
  dir.write("kube/token", "tok\n");
  auto path = dir.write("kube/config", kubeconfig("    certificate-authority: pki/ca.crt\n"
                                                  "    server: https://k8s:6443\n",
                                                  "    client-certificate: pki/client.crt\n"
                                                  "    client-key: ./pki/client.key\n"
                                                  "    tokenFile: token\n"));
  auto loaded = load_kubeconfig(path.string());
  EXPECT_EQ(loaded.conn.ca_file, (dir / "kube/pki/ca.crt").string());
  EXPECT_EQ(loaded.conn.client_cert_file, (dir / "kube/pki/client.crt").string());
  EXPECT_EQ(loaded.conn.client_key_file, (dir / "kube/pki/client.key").string());
  EXPECT_EQ(loaded.conn.token_file, (dir / "kube/token").string());
  EXPECT_EQ(loaded.namespace_, "default");
}

TEST(KubeConfig, AbsoluteFilesStayAsGiven) {
  test::temp_dir dir;
  auto ca = dir.write("elsewhere/ca.crt", ca_pem);
  auto path = dir.write("config", kubeconfig("    certificate-authority: " + ca.string() +
                                               "\n    server: https://k8s\n",
                                             "    token: abc\n"));
  auto loaded = load_kubeconfig(path.string());
  EXPECT_EQ(loaded.conn.ca_file, ca.string());
  EXPECT_EQ(loaded.conn.token, "abc");
}

TEST(KubeConfig, InsecureSkipVerify) {
  test::temp_dir dir;
  auto path = dir.write("config", kubeconfig("    insecure-skip-tls-verify: true\n"
                                             "    server: 10.0.0.1:6443\n",
                                             "    token: abc\n"));
  auto loaded = load_kubeconfig(path.string());
  EXPECT_TRUE(loaded.conn.insecure_skip_verify);
  EXPECT_EQ(loaded.conn.server, "https://10.0.0.1:6443"); // no scheme + TLS settings: https
}

TEST(KubeConfig, ServerWithoutSchemeOrTlsIsHttp) {
  test::temp_dir dir;
  auto path = dir.write("config", kubeconfig("    server: localhost:8080\n", "    {}\n"));
  EXPECT_EQ(load_kubeconfig(path.string()).conn.server, "http://localhost:8080");
}

TEST(KubeConfig, ChosenContextWinsOverCurrentContext) {
  test::temp_dir dir;
  auto path = dir.write("config", R"(apiVersion: v1
clusters:
- cluster: {server: "https://one"}
  name: one
- cluster: {server: "https://two"}
  name: two
contexts:
- context: {cluster: one, user: u}
  name: first
- context: {cluster: two, user: u, namespace: kube-system}
  name: second
current-context: first
users:
- name: u
  user: {token: t}
- name: unused
  user:
    exec:
      command: aws
)");
  EXPECT_EQ(load_kubeconfig(path.string()).conn.server, "https://one");
  auto second = load_kubeconfig(path.string(), "second");
  EXPECT_EQ(second.conn.server, "https://two");
  EXPECT_EQ(second.namespace_, "kube-system");
}

TEST(KubeConfig, ContextWithoutUserIsAnonymous) {
  test::temp_dir dir;
  auto path = dir.write("config", "clusters:\n- name: c\n  cluster:\n    server: https://x\n"
                                  "contexts:\n- name: c\n  context:\n    cluster: c\n"
                                  "current-context: c\n");
  auto loaded = load_kubeconfig(path.string());
  EXPECT_EQ(loaded.conn.server, "https://x");
  EXPECT_TRUE(loaded.conn.token.empty());
  EXPECT_TRUE(loaded.conn.client_cert_pem.empty());
}

// ---- kubeconfig errors --------------------------------------------------------

struct error_case {
  std::string name;
  std::string cluster_fields;
  std::string user_fields;
  std::string context_extra;
  std::vector<std::string> message_parts;
};

TEST(KubeConfig, FieldErrorsNameFileEntryAndField) {
  const std::string server = "    server: https://k8s\n";
  const std::vector<error_case> cases = {
    {"exec",
     server,
     "    exec:\n      command: aws\n      apiVersion: v1\n",
     "",
     {"user \"u1\"", "exec", "not supported"}},
    {"auth-provider",
     server,
     "    auth-provider:\n      name: gcp\n",
     "",
     {"user \"u1\"", "auth-provider", "not supported"}},
    {"basic auth",
     server,
     "    username: admin\n    password: hunter2\n",
     "",
     {"user \"u1\"", "username", "not supported"}},
    {"impersonation",
     server,
     "    token: t\n    as: someone\n",
     "",
     {"user \"u1\"", "\"as\"", "impersonation"}},
    {"missing server",
     "    insecure-skip-tls-verify: true\n",
     "    token: t\n",
     "",
     {"cluster \"c1\"", "\"server\"", "missing"}},
    {"bad scheme",
     "    server: ftp://k8s\n",
     "    token: t\n",
     "",
     {"cluster \"c1\"", "ftp://k8s", "not an http:// or https:// URL"}},
    {"ca file and data",
     "    certificate-authority: ca.crt\n    certificate-authority-data: " + ca_pem_b64 + "\n" +
       server,
     "    token: t\n",
     "",
     {"cluster \"c1\"", "certificate-authority-data", "only one"}},
    {"missing ca file",
     "    certificate-authority: missing/ca.crt\n" + server,
     "    token: t\n",
     "",
     {"cluster \"c1\"", "\"certificate-authority\"", "missing/ca.crt", "does not exist"}},
    {"insecure with ca",
     "    insecure-skip-tls-verify: true\n    certificate-authority-data: " + ca_pem_b64 + "\n" +
       server,
     "    token: t\n",
     "",
     {"cluster \"c1\"", "insecure-skip-tls-verify", "certificate authority"}},
    {"insecure not a bool",
     "    insecure-skip-tls-verify: yes\n" + server,
     "    token: t\n",
     "",
     {"cluster \"c1\"", "\"insecure-skip-tls-verify\"", "true or false"}},
    {"proxy",
     "    proxy-url: http://proxy:3128\n" + server,
     "    token: t\n",
     "",
     {"cluster \"c1\"", "proxy-url", "not supported"}},
    {"bad base64",
     "    certificate-authority-data: '!!notbase64'\n" + server,
     "    token: t\n",
     "",
     {"cluster \"c1\"", "\"certificate-authority-data\"", "not valid base64"}},
    {"cert without key",
     server,
     "    client-certificate-data: " + cert_b64 + "\n",
     "",
     {"user \"u1\"", "without client-key"}},
    {"key without cert",
     server,
     "    client-key-data: " + key_b64 + "\n",
     "",
     {"user \"u1\"", "without client-certificate"}},
    {"cert file and data",
     server,
     "    client-certificate: c.crt\n    client-certificate-data: " + cert_b64 +
       "\n    client-key-data: " + key_b64 + "\n",
     "",
     {"user \"u1\"", "client-certificate-data", "only one"}},
    {"missing token file",
     server,
     "    tokenFile: nowhere/token\n",
     "",
     {"user \"u1\"", "\"tokenFile\"", "nowhere/token", "does not exist"}},
    {"token not a string",
     server,
     "    token: 12345\n",
     "",
     {"user \"u1\"", "\"token\"", "must be a string"}},
    {"bad namespace",
     server,
     "    token: t\n",
     "    namespace: Not_A_Label\n",
     {"context \"ctx1\"", "\"namespace\"", "DNS-1123"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    test::temp_dir dir;
    auto path = dir.write("config", kubeconfig(c.cluster_fields, c.user_fields, c.context_extra));
    auto message = error_of([&] { load_kubeconfig(path.string()); });
    EXPECT_THAT(message, HasSubstr(path.string()));
    for (const auto& part : c.message_parts) {
      EXPECT_THAT(message, HasSubstr(part));
    }
  }
}

TEST(KubeConfig, SecretsNeverAppearInErrors) {
  test::temp_dir dir;
  auto path = dir.write(
    "config", kubeconfig("    server: https://k8s\n",
                         "    token: SUPERSECRETTOKEN\n    client-key-data: SECRETKEYDATA!!\n"
                         "    client-certificate-data: " +
                           cert_b64 + "\n"));
  auto message = error_of([&] { load_kubeconfig(path.string()); });
  EXPECT_THAT(message, HasSubstr("client-key-data"));
  EXPECT_THAT(message, Not(HasSubstr("SECRETKEYDATA")));
  EXPECT_THAT(message, Not(HasSubstr("SUPERSECRETTOKEN")));
}

TEST(KubeConfig, ContextErrors) {
  test::temp_dir dir;
  auto path = dir.write("config", kubeconfig("    server: https://k8s\n", "    token: t\n"));
  EXPECT_THAT(error_of([&] { load_kubeconfig(path.string(), "nope"); }),
              AllOf(HasSubstr("context \"nope\" not found"), HasSubstr("\"ctx1\""),
                    HasSubstr(path.string())));

  auto no_current = dir.write("no-current", "contexts:\n- name: a\n  context: {cluster: c}\n");
  EXPECT_THAT(error_of([&] { load_kubeconfig(no_current.string()); }),
              AllOf(HasSubstr("current-context is not set"), HasSubstr("\"a\"")));

  auto bad_refs = dir.write("bad-refs", "clusters: []\ncontexts:\n- name: a\n  context:\n"
                                        "    cluster: gone\n    user: u\ncurrent-context: a\n");
  EXPECT_THAT(error_of([&] { load_kubeconfig(bad_refs.string()); }),
              AllOf(HasSubstr("context \"a\""), HasSubstr("\"cluster\""), HasSubstr("gone")));

  auto missing_user =
    dir.write("missing-user", "clusters:\n- name: c\n  cluster: {server: https://x}\n"
                              "contexts:\n- name: a\n  context: {cluster: c, user: ghost}\n"
                              "current-context: a\n");
  EXPECT_THAT(error_of([&] { load_kubeconfig(missing_user.string()); }),
              AllOf(HasSubstr("\"user\""), HasSubstr("ghost")));

  auto empty = dir.write("empty", "");
  EXPECT_THAT(error_of([&] { load_kubeconfig(empty.string()); }),
              HasSubstr("current-context is not set"));
}

TEST(KubeConfig, FileErrors) {
  test::temp_dir dir;
  auto missing = (dir / "missing").string();
  EXPECT_THAT(error_of([&] { load_kubeconfig(missing); }),
              AllOf(HasSubstr(missing), HasSubstr("does not exist")));

  auto bad_yaml = dir.write("bad", "clusters:\n- name: a\n  cluster: &x {}\n");
  EXPECT_THAT(error_of([&] { load_kubeconfig(bad_yaml.string()); }),
              AllOf(HasSubstr(bad_yaml.string()), HasSubstr("yaml: line 3"), HasSubstr("anchors")));

  auto not_map = dir.write("list", "- a\n- b\n");
  EXPECT_THAT(error_of([&] { load_kubeconfig(not_map.string()); }),
              HasSubstr("expected a mapping at the top level"));

  auto dup = dir.write("dup", "clusters:\n- name: a\n  cluster: {server: x}\n- name: a\n"
                              "  cluster: {server: y}\n");
  EXPECT_THAT(error_of([&] { load_kubeconfig(dup.string()); }),
              AllOf(HasSubstr("clusters"), HasSubstr("duplicate name \"a\"")));

  auto wrong_shape = dir.write("shape", "clusters: {a: b}\n");
  EXPECT_THAT(error_of([&] { load_kubeconfig(wrong_shape.string()); }),
              HasSubstr("\"clusters\" must be a list"));
}

TEST(KubeConfig, MergedFilesFirstDefinitionWins) {
  test::temp_dir dir;
  dir.write("a/ca.crt", ca_pem);
  auto first = dir.write("a/config", R"(clusters:
- name: shared
  cluster:
    server: https://from-a
    certificate-authority: ca.crt
users:
- name: u
  user: {token: from-a}
)");
  dir.write("b/ca.crt", ca_pem);
  auto second = dir.write("b/config", R"(clusters:
- name: shared
  cluster: {server: https://from-b}
- name: only-b
  cluster: {server: https://only-b, certificate-authority: ca.crt}
contexts:
- name: x
  context: {cluster: shared, user: u}
- name: y
  context: {cluster: only-b, user: u}
current-context: x
users:
- name: u
  user: {token: from-b}
)");
  auto missing = (dir / "missing/config").string();
  std::vector<std::string> files{missing, first.string(), second.string()};
  auto x = load_kubeconfig_files(files);
  EXPECT_EQ(x.conn.server, "https://from-a");
  EXPECT_EQ(x.conn.ca_file, (dir / "a/ca.crt").string());
  EXPECT_EQ(x.conn.token, "from-a");
  auto y = load_kubeconfig_files(files, "y");
  EXPECT_EQ(y.conn.server, "https://only-b");
  EXPECT_EQ(y.conn.ca_file, (dir / "b/ca.crt").string());

  EXPECT_THAT(error_of([&] { load_kubeconfig_files({missing}); }),
              HasSubstr("none of the kubeconfig files exists"));
}

// ---- in-cluster -----------------------------------------------------------------

struct service_account {
  test::temp_dir root;
  service_account() {
    write("token", "eyJhbGciOi.token\n");
    write("ca.crt", ca_pem);
    write("namespace", "open-local\n");
  }
  void write(const std::string& name, const std::string& text) {
    root.write("var/run/secrets/kubernetes.io/serviceaccount/" + name, text);
  }
  void remove(const std::string& name) {
    fs::remove(root / ("var/run/secrets/kubernetes.io/serviceaccount/" + name));
  }
  std::string path(const std::string& name) const {
    return (root / ("var/run/secrets/kubernetes.io/serviceaccount/" + name)).string();
  }
};

TEST(InCluster, ReadsEnvironmentAndServiceAccount) {
  service_account sa;
  auto loaded = load_in_cluster(
    fake_env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
             sa.root.path()));
  EXPECT_EQ(loaded.conn.server, "https://10.96.0.1:443");
  EXPECT_EQ(loaded.conn.token_file, sa.path("token"));
  EXPECT_TRUE(loaded.conn.token.empty()); // the client reads (and re-reads) the file
  EXPECT_EQ(loaded.conn.ca_file, sa.path("ca.crt"));
  EXPECT_EQ(loaded.namespace_, "open-local");
  EXPECT_THAT(loaded.source, HasSubstr("in-cluster"));
}

TEST(InCluster, Ipv6HostIsBracketed) {
  service_account sa;
  auto loaded = load_in_cluster(fake_env(
    {{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}}, sa.root.path()));
  EXPECT_EQ(loaded.conn.server, "https://[fd00::1]:6443");
}

TEST(InCluster, NamespaceFallbacks) {
  service_account sa;
  std::map<std::string, std::string> vars{{"KUBERNETES_SERVICE_HOST", "h"},
                                          {"KUBERNETES_SERVICE_PORT", "443"}};
  auto with_pod_ns = vars;
  with_pod_ns["POD_NAMESPACE"] = "from-env";
  EXPECT_EQ(load_in_cluster(fake_env(with_pod_ns, sa.root.path())).namespace_, "from-env");
  sa.remove("namespace");
  EXPECT_EQ(load_in_cluster(fake_env(vars, sa.root.path())).namespace_, "default");
}

TEST(InCluster, MissingPiecesAreNamed) {
  service_account sa;
  EXPECT_THAT(error_of([&] {
                load_in_cluster(fake_env({{"KUBERNETES_SERVICE_PORT", "443"}}, sa.root.path()));
              }),
              AllOf(HasSubstr("KUBERNETES_SERVICE_HOST"), HasSubstr("not set"),
                    Not(HasSubstr("KUBERNETES_SERVICE_PORT"))));
  EXPECT_THAT(error_of([&] { load_in_cluster(fake_env({}, sa.root.path())); }),
              AllOf(HasSubstr("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")));
  EXPECT_THAT(error_of([&] {
                load_in_cluster(
                  fake_env({{"KUBERNETES_SERVICE_HOST", "h"}, {"KUBERNETES_SERVICE_PORT", "https"}},
                           sa.root.path()));
              }),
              HasSubstr("is not a port number"));

  std::map<std::string, std::string> vars{{"KUBERNETES_SERVICE_HOST", "h"},
                                          {"KUBERNETES_SERVICE_PORT", "443"}};
  sa.write("token", "  \n");
  EXPECT_THAT(error_of([&] { load_in_cluster(fake_env(vars, sa.root.path())); }),
              AllOf(HasSubstr(sa.path("token")), HasSubstr("is empty")));
  sa.remove("token");
  EXPECT_THAT(error_of([&] { load_in_cluster(fake_env(vars, sa.root.path())); }),
              AllOf(HasSubstr(sa.path("token")), HasSubstr("does not exist")));
  sa.write("token", "t");
  sa.remove("ca.crt");
  EXPECT_THAT(error_of([&] { load_in_cluster(fake_env(vars, sa.root.path())); }),
              AllOf(HasSubstr(sa.path("ca.crt")), HasSubstr("does not exist")));
}

// ---- precedence -----------------------------------------------------------------

struct precedence : ::testing::Test {
  test::temp_dir dir;
  service_account sa;
  std::string flag_file = write_config("flag", "https://from-flag");
  std::string env_file = write_config("env", "https://from-env");
  std::string home = (dir / "home").string();

  std::string write_config(const std::string& name, const std::string& server) {
    return dir
      .write(name + "/config", kubeconfig("    server: " + server + "\n", "    token: t\n",
                                          "    namespace: " + name + "\n"))
      .string();
  }
  void write_home() {
    dir.write("home/.kube/config", kubeconfig("    server: https://from-home\n", "    token: t\n"));
  }
  resolve_options options(std::map<std::string, std::string> vars) {
    resolve_options o;
    o.env = fake_env(std::move(vars), sa.root.path());
    return o;
  }
  std::map<std::string, std::string> everything() {
    write_home();
    return {{"KUBECONFIG", (dir / "nope").string() + ":" + env_file},
            {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
            {"KUBERNETES_SERVICE_PORT", "443"},
            {"HOME", home}};
  }
};

TEST_F(precedence, FlagFirst) {
  auto o = options(everything());
  o.kubeconfig = flag_file;
  auto loaded = resolve(o);
  EXPECT_EQ(loaded.conn.server, "https://from-flag");
  EXPECT_EQ(loaded.namespace_, "flag");
}

TEST_F(precedence, MissingFlagFileIsAnError) {
  auto o = options(everything());
  o.kubeconfig = (dir / "absent").string();
  EXPECT_THAT(error_of([&] { resolve(o); }), HasSubstr("does not exist"));
}

TEST_F(precedence, KubeconfigEnvSecond) {
  auto loaded = resolve(options(everything()));
  EXPECT_EQ(loaded.conn.server, "https://from-env");
}

TEST_F(precedence, KubeconfigEnvWithoutFilesFallsThrough) {
  auto vars = everything();
  vars["KUBECONFIG"] = (dir / "nope").string();
  EXPECT_EQ(resolve(options(vars)).conn.server, "https://10.0.0.1:443");
}

TEST_F(precedence, InClusterThird) {
  auto vars = everything();
  vars.erase("KUBECONFIG");
  auto loaded = resolve(options(vars));
  EXPECT_EQ(loaded.conn.server, "https://10.0.0.1:443");
  EXPECT_EQ(loaded.conn.token_file, sa.path("token"));
}

TEST_F(precedence, InClusterErrorsAreFinal) {
  auto vars = everything();
  vars.erase("KUBECONFIG");
  sa.remove("token");
  EXPECT_THAT(error_of([&] { resolve(options(vars)); }), HasSubstr(sa.path("token")));
}

TEST_F(precedence, HomeLast) {
  write_home();
  auto loaded = resolve(options({{"HOME", home}}));
  EXPECT_EQ(loaded.conn.server, "https://from-home");
}

TEST_F(precedence, ContextOptionIsUsed) {
  auto o = options({});
  o.kubeconfig = flag_file;
  o.context = "other";
  EXPECT_THAT(error_of([&] { resolve(o); }), HasSubstr("context \"other\" not found"));
}

TEST_F(precedence, MasterOverridesTheServer) {
  auto o = options(everything());
  o.kubeconfig = flag_file;
  o.master = "https://master:6443/";
  auto loaded = resolve(o);
  EXPECT_EQ(loaded.conn.server, "https://master:6443");
  EXPECT_EQ(loaded.conn.token, "t");
  EXPECT_THAT(loaded.source, HasSubstr("--master"));

  auto vars = everything();
  vars.erase("KUBECONFIG");
  auto in_cluster = options(vars);
  in_cluster.master = "https://master";
  auto loaded_in_cluster = resolve(in_cluster);
  EXPECT_EQ(loaded_in_cluster.conn.server, "https://master");
  EXPECT_EQ(loaded_in_cluster.conn.ca_file, sa.path("ca.crt"));
}

TEST_F(precedence, MasterAloneConnectsWithoutCredentials) {
  auto o = options({{"HOME", home}});
  o.master = "http://127.0.0.1:8080";
  auto loaded = resolve(o);
  EXPECT_EQ(loaded.conn.server, "http://127.0.0.1:8080");
  EXPECT_TRUE(loaded.conn.token.empty());
  EXPECT_TRUE(loaded.conn.token_file.empty());
  EXPECT_EQ(loaded.namespace_, "default");
}

TEST_F(precedence, NothingFoundListsWhatWasTried) {
  auto message = error_of([&] { resolve(options({{"HOME", home}})); });
  EXPECT_THAT(message, AllOf(HasSubstr("no Kubernetes configuration found"),
                             HasSubstr("--kubeconfig"), HasSubstr("$KUBECONFIG"),
                             HasSubstr("in-cluster"), HasSubstr(home + "/.kube/config")));
  EXPECT_THAT(error_of([&] { resolve(options({})); }), HasSubstr("$HOME not set"));
}

// ---- base64 ----------------------------------------------------------------------

TEST(Base64, Decodes) {
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_base64("Zg=="), "f");
  EXPECT_EQ(decode_base64("Zm8="), "fo");
  EXPECT_EQ(decode_base64("Zm9v"), "foo");
  EXPECT_EQ(decode_base64("Zg"), "f"); // padding optional
  EXPECT_EQ(decode_base64("Zm9v\nYmFy\r\n"), "foobar");
  EXPECT_EQ(decode_base64("/+/+"), std::string("\xff\xef\xfe"));
  EXPECT_EQ(decode_base64(ca_pem_b64), ca_pem);
  EXPECT_FALSE(decode_base64("Z"));
  EXPECT_FALSE(decode_base64("Zg=a"));
  EXPECT_FALSE(decode_base64("Zg==="));
  EXPECT_FALSE(decode_base64("Zm9v!"));
}

} // namespace
} // namespace olocal::kube
