#pragma once

// Where to connect: the in-cluster service account, kubeconfig files, and the
// precedence between them (client-go's rules, plus the --kubeconfig and
// --master flags open-local accepts).
//
// Every loader returns a loaded_config: the connection, the namespace that
// came with it and a description of the source for start-up logs. Errors are
// config_error naming the file, the entry and the field; messages never carry
// secrets (token, key and certificate contents are never printed).

#include "gateways/kube/connection.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::kube {

/// A configuration that cannot be used (missing, malformed, unsupported).
class config_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// What the loaders read from the process: environment variables and the
/// root under which the service-account files live. Tests point both at fakes.
struct environment {
  /// getenv-like lookup; an empty function means "no variables at all".
  std::function<std::optional<std::string>(const std::string&)> lookup;
  /// Prefix for /var/run/secrets/kubernetes.io/serviceaccount/... ("/" in production).
  std::filesystem::path root = "/";

  /// The real process environment and "/".
  static environment from_process();

  /// The variable's value; unset and empty both give nullopt.
  std::optional<std::string> get(const std::string& name) const;
};

struct loaded_config {
  connection conn;
  std::string namespace_; ///< the context's / pod's namespace; "default" when none is given
  std::string source;     ///< e.g. "in-cluster" or "kubeconfig /root/.kube/config (context kind)"
};

/// The pod's service account, as client-go's rest.InClusterConfig reads it:
/// server https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (IPv6 hosts
/// bracketed), token_file and ca_file set to the service-account token and CA
/// (both must exist and be non-empty now; the client re-reads the token file
/// when it rotates), namespace from $POD_NAMESPACE, else the namespace file,
/// else "default". A missing variable or file is an error naming it.
loaded_config load_in_cluster(const environment& env);

/// One kubeconfig file. `context` empty means the file's current-context.
/// Relative file references (certificate-authority, client-certificate,
/// client-key, tokenFile) are relative to the file's directory, as in client-go.
loaded_config load_kubeconfig(const std::string& path, const std::string& context = "");

/// Several kubeconfig files merged the way kubectl merges $KUBECONFIG: files
/// that do not exist are skipped; for each cluster, user and context name the
/// first file that defines it wins; current-context comes from the first file
/// that sets it. Relative references resolve against the defining file's
/// directory. Throws when none of the files exists.
loaded_config load_kubeconfig_files(const std::vector<std::string>& paths,
                                    const std::string& context = "");

struct resolve_options {
  std::string kubeconfig; ///< --kubeconfig flag ("" = not given)
  std::string master;     ///< --master flag: overrides the server URL ("" = not given)
  std::string context;    ///< context to use instead of current-context ("" = current)
  environment env = environment::from_process();
};

/// Picks the configuration in client-go's order and returns the first found:
///   1. the --kubeconfig file (must exist);
///   2. $KUBECONFIG, a colon-separated list, merged as load_kubeconfig_files
///      does (skipped when none of the listed files exists);
///   3. in-cluster, when $KUBERNETES_SERVICE_HOST is set (its errors are final);
///   4. $HOME/.kube/config, when it exists.
/// --master replaces the server of whichever source was found; when nothing is
/// found and --master is given, the result connects to master with no
/// credentials and the system CAs (client-go's BuildConfigFromFlags does the
/// same). Otherwise the error lists what was tried.
loaded_config resolve(const resolve_options& options);

/// Standard base64 (RFC 4648) with padding optional; whitespace and line
/// breaks are ignored. nullopt for any other character or a bad length.
std::optional<std::string> decode_base64(std::string_view text);

} // namespace olocal::kube
