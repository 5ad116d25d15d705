#pragma once

// How to reach and authenticate to a Kubernetes API server. Filled by the
// loaders in kube_config.hpp (in-cluster or kubeconfig) or by hand in tests;
// consumed by the HTTPS client in client.hpp.

#include <chrono>
#include <string>

namespace olocal::kube {

struct connection {
  std::string server; ///< base URL, "https://10.0.0.1:443" (no trailing slash)

  // Server verification: PEM text wins over a file; both empty = system CAs.
  std::string ca_pem;
  std::string ca_file;
  bool insecure_skip_verify = false; ///< kubeconfig's insecure-skip-tls-verify
  std::string tls_server_name;       ///< SNI / name checked instead of the URL's host

  // Client identity (any combination the kubeconfig gives).
  std::string client_cert_pem;
  std::string client_cert_file;
  std::string client_key_pem;
  std::string client_key_file;
  std::string token;      ///< bearer token given inline
  std::string token_file; ///< re-read when it changes (service-account token rotation)

  // Client behaviour.
  double qps = 20.0;   ///< steady request rate (token bucket refill)
  unsigned burst = 40; ///< bucket size
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds request_timeout{30'000}; ///< whole request, not watches
  unsigned max_retries = 5;                          ///< on 429, 5xx and connection errors
  std::chrono::milliseconds retry_base{200};         ///< first backoff; doubles, with jitter
  std::chrono::milliseconds retry_max{10'000};       ///< backoff cap
  std::string user_agent = "open-local";
};

} // namespace olocal::kube
