#include "gateways/kube/kube_config.hpp"

#include "gateways/kube/yaml.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <system_error>

namespace olocal::kube {

namespace json = boost::json;
namespace fs = std::filesystem;

environment environment::from_process() {
  environment env;
  env.lookup = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
  env.root = "/";
  return env;
}

std::optional<std::string> environment::get(const std::string& name) const {
  if (!lookup) {
    return std::nullopt;
  }
  auto value = lookup(name);
  if (!value || value->empty()) {
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> decode_base64(std::string_view text) {
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') {
      return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
      return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
      return c - '0' + 52;
    }
    if (c == '+') {
      return 62;
    }
    if (c == '/') {
      return 63;
    }
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  std::uint32_t bits_value = 0;
  int bits = 0;
  std::size_t symbols = 0;
  std::size_t padding = 0;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      continue;
    }
    if (c == '=') {
      ++padding;
      continue;
    }
    int v = sextet(c);
    if (v < 0 || padding > 0) {
      return std::nullopt; // a stranger, or data after the padding
    }
    bits_value = (bits_value << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    ++symbols;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((bits_value >> bits) & 0xff);
      bits_value &= (1u << bits) - 1;
    }
  }
  if (symbols % 4 == 1 || padding > 2 || (padding > 0 && (symbols + padding) % 4 != 0)) {
    return std::nullopt;
  }
  return out;
}

namespace {

constexpr const char* service_account_dir = "var/run/secrets/kubernetes.io/serviceaccount";

std::string in_quotes(const std::string& text) {
  return "\"" + text + "\"";
}

std::string trim(std::string text) {
  auto blank = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && blank(text.back())) {
    text.pop_back();
  }
  auto first = std::find_if_not(text.begin(), text.end(), blank);
  text.erase(text.begin(), first);
  return text;
}

/// The whole file, or nullopt with `problem` saying why not.
std::optional<std::string> read_whole(const fs::path& path, std::string& problem) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    problem = "does not exist";
    return std::nullopt;
  }
  if (fs::is_directory(status)) {
    problem = "is a directory";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problem = "cannot be read";
    return std::nullopt;
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) {
    problem = "cannot be read";
    return std::nullopt;
  }
  return text;
}

bool file_exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

/// DNS-1123 label, as client-go requires of a context's namespace.
bool is_dns_label(const std::string& s) {
  if (s.empty() || s.size() > 63) {
    return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

/// client-go's default: without a scheme, https when TLS is configured, else http.
std::string normalize_server(std::string server, bool tls, const std::string& where) {
  auto scheme_end = server.find("://");
  if (scheme_end == std::string::npos) {
    server = (tls ? "https://" : "http://") + server;
    scheme_end = server.find("://");
  }
  auto scheme = server.substr(0, scheme_end);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "https" && scheme != "http") {
    throw config_error(where + ": server " + in_quotes(server) +
                       " is not an http:// or https:// URL");
  }
  while (server.size() > scheme_end + 3 && server.back() == '/') {
    server.pop_back();
  }
  if (server.size() == scheme_end + 3) {
    throw config_error(where + ": server " + in_quotes(server) + " has no host");
  }
  return server;
}

// ---- kubeconfig documents ---------------------------------------------------

/// One named cluster, user or context and where it was defined.
struct named_entry {
  json::object body;
  fs::path file;
  fs::path dir; ///< relative references resolve here
};

struct kubeconfig_set {
  std::map<std::string, named_entry> clusters;
  std::map<std::string, named_entry> users;
  std::map<std::string, named_entry> contexts;
  std::string current_context;
  std::vector<std::string> files;
};

/// Field access with errors naming the place ("cluster \"x\" in /f").
class fields {
public:
  fields(const json::object& object, std::string where)
    : object_(object), where_(std::move(where)) {}

  const std::string& where() const { return where_; }

  bool has(std::string_view key) const {
    auto* v = object_.if_contains(key);
    if (v == nullptr || v->is_null()) {
      return false;
    }
    if (v->is_string()) {
      return !v->get_string().empty();
    }
    if (v->is_array()) {
      return !v->get_array().empty();
    }
    if (v->is_object()) {
      return !v->get_object().empty();
    }
    return true;
  }

  std::string text(std::string_view key) const {
    auto* v = object_.if_contains(key);
    if (v == nullptr || v->is_null()) {
      return {};
    }
    if (!v->is_string()) {
      throw error(key, "must be a string (quote the value)");
    }
    return std::string(v->get_string());
  }

  bool flag(std::string_view key) const {
    auto* v = object_.if_contains(key);
    if (v == nullptr || v->is_null()) {
      return false;
    }
    if (!v->is_bool()) {
      throw error(key, "must be true or false");
    }
    return v->get_bool();
  }

  config_error error(std::string_view key, const std::string& what) const {
    return config_error(where_ + ": field " + in_quotes(std::string(key)) + " " + what);
  }

private:
  const json::object& object_;
  std::string where_;
};

void read_named_list(const json::object& root, const char* list, const char* inner,
                     const fs::path& file, std::map<std::string, named_entry>& into) {
  auto* v = root.if_contains(list);
  if (v == nullptr || v->is_null()) {
    return;
  }
  auto where = "kubeconfig " + file.string();
  if (!v->is_array()) {
    throw config_error(where + ": field " + in_quotes(list) + " must be a list");
  }
  std::map<std::string, bool> seen;
  std::size_t index = 0;
  for (const auto& item : v->get_array()) {
    auto at = where + ": " + list + "[" + std::to_string(index++) + "]";
    if (!item.is_object()) {
      throw config_error(at + " must be a mapping with \"name\" and " + in_quotes(inner));
    }
    const auto& entry = item.get_object();
    auto name = fields(entry, at).text("name");
    if (name.empty()) {
      throw config_error(at + ": field \"name\" is missing");
    }
    if (seen[name]) {
      throw config_error(where + ": " + list + ": duplicate name " + in_quotes(name));
    }
    seen[name] = true;
    json::object body;
    if (auto* b = entry.if_contains(inner); b != nullptr && !b->is_null()) {
      if (!b->is_object()) {
        throw config_error(at + " (" + in_quotes(name) + "): field " + in_quotes(inner) +
                           " must be a mapping");
      }
      body = b->get_object();
    }
    into.try_emplace(name, named_entry{std::move(body), file, file.parent_path()});
  }
}

/// Adds one file; names already defined by an earlier file are kept.
void merge_file(kubeconfig_set& set, const fs::path& given) {
  std::error_code ec;
  auto file = fs::absolute(given, ec).lexically_normal();
  if (ec) {
    file = given;
  }
  std::string problem;
  auto text = read_whole(file, problem);
  if (!text) {
    throw config_error("kubeconfig " + file.string() + " " + problem);
  }
  json::value doc;
  try {
    doc = yaml::parse(*text);
  } catch (const yaml::parse_error& e) {
    throw config_error("kubeconfig " + file.string() + ": " + e.what());
  }
  set.files.push_back(file.string());
  if (doc.is_null()) {
    return; // an empty file is an empty configuration
  }
  if (!doc.is_object()) {
    throw config_error("kubeconfig " + file.string() + ": expected a mapping at the top level");
  }
  const auto& root = doc.get_object();
  read_named_list(root, "clusters", "cluster", file, set.clusters);
  read_named_list(root, "users", "user", file, set.users);
  read_named_list(root, "contexts", "context", file, set.contexts);
  if (set.current_context.empty()) {
    set.current_context = fields(root, "kubeconfig " + file.string()).text("current-context");
  }
}

fs::path resolve_reference(const named_entry& entry, const std::string& value) {
  fs::path path(value);
  if (path.is_relative()) {
    path = entry.dir / path;
  }
  return path.lexically_normal();
}

/// A referenced file must exist and hold something; returns its path.
std::string check_referenced_file(const fields& f, std::string_view key, const fs::path& path) {
  std::string problem;
  auto text = read_whole(path, problem);
  if (!text) {
    throw f.error(key, "names the file " + path.string() + ", which " + problem);
  }
  if (trim(*text).empty()) {
    throw f.error(key, "names the file " + path.string() + ", which is empty");
  }
  return path.string();
}

std::string decode_field(const fields& f, std::string_view key, const std::string& value) {
  auto decoded = decode_base64(value);
  if (!decoded) {
    throw f.error(key, "is not valid base64");
  }
  if (decoded->empty()) {
    throw f.error(key, "is empty after base64 decoding");
  }
  return *decoded;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += separator;
    }
    out += item;
  }
  return out;
}

std::string names_of(const std::map<std::string, named_entry>& entries) {
  std::vector<std::string> names;
  for (const auto& [name, entry] : entries) {
    names.push_back(in_quotes(name));
  }
  return names.empty() ? "none" : join(names, ", ");
}

void apply_cluster(const named_entry& entry, const std::string& name, connection& conn,
                   std::string& server) {
  fields f(entry.body, "cluster " + in_quotes(name) + " in kubeconfig " + entry.file.string());
  server = f.text("server");
  if (server.empty()) {
    throw f.error("server", "is missing");
  }
  if (f.has("proxy-url")) {
    throw f.error("proxy-url", "is set: connecting through a proxy is not supported");
  }
  auto ca = f.text("certificate-authority");
  auto ca_data = f.text("certificate-authority-data");
  if (!ca.empty() && !ca_data.empty()) {
    throw config_error(f.where() +
                       ": both certificate-authority and certificate-authority-data are set; "
                       "give only one");
  }
  if (!ca.empty()) {
    conn.ca_file = check_referenced_file(f, "certificate-authority", resolve_reference(entry, ca));
  }
  if (!ca_data.empty()) {
    conn.ca_pem = decode_field(f, "certificate-authority-data", ca_data);
  }
  conn.insecure_skip_verify = f.flag("insecure-skip-tls-verify");
  if (conn.insecure_skip_verify && (!ca.empty() || !ca_data.empty())) {
    throw config_error(f.where() +
                       ": insecure-skip-tls-verify cannot be combined with a certificate "
                       "authority (client-go refuses it too)");
  }
  conn.tls_server_name = f.text("tls-server-name");
}

void apply_user(const named_entry& entry, const std::string& name, connection& conn) {
  fields f(entry.body, "user " + in_quotes(name) + " in kubeconfig " + entry.file.string());
  if (f.has("exec")) {
    throw config_error(f.where() + ": authentication with an exec plugin (field \"exec\") is not "
                                   "supported; use token, tokenFile or a client certificate");
  }
  if (f.has("auth-provider")) {
    throw config_error(f.where() +
                       ": authentication with an auth-provider (field \"auth-provider\") is "
                       "not supported; use token, tokenFile or a client certificate");
  }
  if (f.has("username") || f.has("password")) {
    throw config_error(f.where() +
                       ": basic authentication (fields \"username\"/\"password\") is not "
                       "supported; use token, tokenFile or a client certificate");
  }
  for (const char* key : {"as", "as-uid", "as-groups", "as-user-extra"}) {
    if (f.has(key)) {
      throw f.error(key, "is set: impersonation is not supported");
    }
  }

  auto cert = f.text("client-certificate");
  auto cert_data = f.text("client-certificate-data");
  auto key = f.text("client-key");
  auto key_data = f.text("client-key-data");
  if (!cert.empty() && !cert_data.empty()) {
    throw config_error(f.where() +
                       ": both client-certificate and client-certificate-data are set; give "
                       "only one");
  }
  if (!key.empty() && !key_data.empty()) {
    throw config_error(f.where() + ": both client-key and client-key-data are set; give only one");
  }
  bool has_cert = !cert.empty() || !cert_data.empty();
  bool has_key = !key.empty() || !key_data.empty();
  if (has_cert && !has_key) {
    throw config_error(f.where() +
                       ": a client certificate is set without client-key or client-key-data");
  }
  if (has_key && !has_cert) {
    throw config_error(f.where() + ": a client key is set without client-certificate or "
                                   "client-certificate-data");
  }
  if (!cert.empty()) {
    conn.client_cert_file =
      check_referenced_file(f, "client-certificate", resolve_reference(entry, cert));
  }
  if (!cert_data.empty()) {
    conn.client_cert_pem = decode_field(f, "client-certificate-data", cert_data);
  }
  if (!key.empty()) {
    conn.client_key_file = check_referenced_file(f, "client-key", resolve_reference(entry, key));
  }
  if (!key_data.empty()) {
    conn.client_key_pem = decode_field(f, "client-key-data", key_data);
  }

  conn.token = f.text("token");
  auto token_file = f.text("tokenFile");
  if (!token_file.empty()) {
    conn.token_file = check_referenced_file(f, "tokenFile", resolve_reference(entry, token_file));
  }
}

loaded_config build(const kubeconfig_set& set, const std::string& wanted_context) {
  auto files = join(set.files, ":");
  auto context_name = wanted_context.empty() ? set.current_context : wanted_context;
  if (context_name.empty()) {
    throw config_error("kubeconfig " + files +
                       ": no context given and current-context is not set (contexts: " +
                       names_of(set.contexts) + ")");
  }
  auto context = set.contexts.find(context_name);
  if (context == set.contexts.end()) {
    throw config_error("kubeconfig " + files + ": context " + in_quotes(context_name) +
                       " not found (contexts: " + names_of(set.contexts) + ")");
  }
  fields cf(context->second.body, "context " + in_quotes(context_name) + " in kubeconfig " +
                                    context->second.file.string());

  loaded_config result;
  auto cluster_name = cf.text("cluster");
  if (cluster_name.empty()) {
    throw cf.error("cluster", "is missing");
  }
  auto cluster = set.clusters.find(cluster_name);
  if (cluster == set.clusters.end()) {
    throw cf.error("cluster", "names " + in_quotes(cluster_name) + ", which is not in clusters (" +
                                names_of(set.clusters) + ")");
  }
  std::string server;
  apply_cluster(cluster->second, cluster_name, result.conn, server);

  auto user_name = cf.text("user");
  if (!user_name.empty()) {
    auto user = set.users.find(user_name);
    if (user == set.users.end()) {
      throw cf.error("user", "names " + in_quotes(user_name) + ", which is not in users (" +
                               names_of(set.users) + ")");
    }
    apply_user(user->second, user_name, result.conn);
  }

  const auto& c = result.conn;
  bool tls = !c.ca_file.empty() || !c.ca_pem.empty() || c.insecure_skip_verify ||
             !c.client_cert_file.empty() || !c.client_cert_pem.empty();
  result.conn.server = normalize_server(server, tls,
                                        "cluster " + in_quotes(cluster_name) + " in kubeconfig " +
                                          cluster->second.file.string());

  result.namespace_ = cf.text("namespace");
  if (result.namespace_.empty()) {
    result.namespace_ = "default";
  } else if (!is_dns_label(result.namespace_)) {
    throw cf.error("namespace", in_quotes(result.namespace_) + " is not a valid DNS-1123 label");
  }
  result.source = "kubeconfig " + files + " (context " + context_name + ")";
  return result;
}

} // namespace

loaded_config load_in_cluster(const environment& env) {
  const std::string where = "in-cluster configuration";
  auto host = env.get("KUBERNETES_SERVICE_HOST");
  auto port = env.get("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    std::vector<std::string> missing;
    if (!host) {
      missing.push_back("KUBERNETES_SERVICE_HOST");
    }
    if (!port) {
      missing.push_back("KUBERNETES_SERVICE_PORT");
    }
    throw config_error(where + ": environment variable" + (missing.size() > 1 ? "s " : " ") +
                       join(missing, " and ") + (missing.size() > 1 ? " are" : " is") + " not set");
  }
  bool numeric =
    !port->empty() && port->size() <= 5 &&
    std::all_of(port->begin(), port->end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!numeric || std::stoi(*port) < 1 || std::stoi(*port) > 65535) {
    throw config_error(where + ": KUBERNETES_SERVICE_PORT=" + in_quotes(*port) +
                       " is not a port number");
  }
  auto host_part = *host;
  if (host_part.find(':') != std::string::npos && host_part.front() != '[') {
    host_part = "[" + host_part + "]";
  }

  auto dir = env.root / service_account_dir;
  auto required = [&](const char* name) {
    auto path = (dir / name).lexically_normal();
    std::string problem;
    auto text = read_whole(path, problem);
    if (!text) {
      throw config_error(where + ": service account file " + path.string() + " " + problem);
    }
    if (trim(*text).empty()) {
      throw config_error(where + ": service account file " + path.string() + " is empty");
    }
    return path.string();
  };

  loaded_config result;
  result.conn.server = "https://" + host_part + ":" + *port;
  result.conn.token_file = required("token");
  result.conn.ca_file = required("ca.crt");
  if (auto ns = env.get("POD_NAMESPACE")) {
    result.namespace_ = *ns;
  } else {
    std::string problem;
    auto text = read_whole((dir / "namespace").lexically_normal(), problem);
    result.namespace_ = text ? trim(*text) : std::string();
  }
  if (result.namespace_.empty()) {
    result.namespace_ = "default";
  }
  result.source = "in-cluster (" + result.conn.server + ")";
  return result;
}

loaded_config load_kubeconfig(const std::string& path, const std::string& context) {
  kubeconfig_set set;
  merge_file(set, path);
  return build(set, context);
}

loaded_config load_kubeconfig_files(const std::vector<std::string>& paths,
                                    const std::string& context) {
  kubeconfig_set set;
  for (const auto& path : paths) {
    if (!path.empty() && file_exists(path)) {
      merge_file(set, path);
    }
  }
  if (set.files.empty()) {
    throw config_error("none of the kubeconfig files exists: " + join(paths, ", "));
  }
  return build(set, context);
}

loaded_config resolve(const resolve_options& options) {
  const auto& env = options.env;
  auto finish = [&](loaded_config found) {
    if (!options.master.empty()) {
      const auto& c = found.conn;
      bool tls = !c.ca_file.empty() || !c.ca_pem.empty() || c.insecure_skip_verify ||
                 !c.client_cert_file.empty() || !c.client_cert_pem.empty();
      found.conn.server = normalize_server(options.master, tls, "--master");
      found.source += ", server from --master";
    }
    return found;
  };

  if (!options.kubeconfig.empty()) {
    return finish(load_kubeconfig(options.kubeconfig, options.context));
  }
  std::vector<std::string> tried{"--kubeconfig (not given)"};

  if (auto list = env.get("KUBECONFIG")) {
    std::vector<std::string> paths;
    std::string::size_type start = 0;
    for (;;) {
      auto colon = list->find(':', start);
      auto item = list->substr(start, colon == std::string::npos ? colon : colon - start);
      if (!item.empty()) {
        paths.push_back(item);
      }
      if (colon == std::string::npos) {
        break;
      }
      start = colon + 1;
    }
    if (std::any_of(paths.begin(), paths.end(), [](const auto& p) { return file_exists(p); })) {
      return finish(load_kubeconfig_files(paths, options.context));
    }
    tried.push_back("$KUBECONFIG=" + *list + " (none of the files exists)");
  } else {
    tried.push_back("$KUBECONFIG (not set)");
  }

  if (env.get("KUBERNETES_SERVICE_HOST")) {
    return finish(load_in_cluster(env));
  }
  tried.push_back("in-cluster ($KUBERNETES_SERVICE_HOST not set)");

  if (auto home = env.get("HOME")) {
    auto path = (fs::path(*home) / ".kube" / "config").string();
    if (file_exists(path)) {
      return finish(load_kubeconfig(path, options.context));
    }
    tried.push_back(path + " (does not exist)");
  } else {
    tried.push_back("$HOME/.kube/config ($HOME not set)");
  }

  if (!options.master.empty()) {
    loaded_config bare;
    bare.conn.server = normalize_server(options.master, false, "--master");
    bare.namespace_ = "default";
    bare.source = "--master " + bare.conn.server + " (no credentials)";
    return bare;
  }
  throw config_error("no Kubernetes configuration found; tried: " + join(tried, "; "));
}

} // namespace olocal::kube
