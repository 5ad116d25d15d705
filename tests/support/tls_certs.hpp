#pragma once

// Throwaway PKI for TLS tests, generated in memory with the OpenSSL 3 C API
// (no shell, no files). EC P-256 keys, SHA-256 signatures, valid from one hour
// ago for one day.
//
// Every call to make_test_pki() creates a brand-new CA: two calls give two
// unrelated trust roots, so a client that trusts one CA must refuse a server
// whose certificate was signed by the other (that is how tests prove that a
// wrong CA is refused).

#include <string>

namespace olocal::test {

/// A PEM certificate and its PEM private key (PKCS#8, unencrypted).
struct pem_pair {
  std::string cert;
  std::string key;
};

struct test_pki {
  pem_pair ca;     ///< self-signed CA (CN "open-local-test-ca"), basicConstraints CA:TRUE
  pem_pair server; ///< signed by ca; CN "localhost", SAN IP:127.0.0.1 and DNS:localhost
  pem_pair client; ///< signed by ca; CN given, O=system:masters, extendedKeyUsage clientAuth
};

/// A fresh CA with a server and a client certificate signed by it.
/// Throws std::runtime_error when OpenSSL fails.
test_pki make_test_pki(std::string client_common_name = "open-local-test");

/// A self-signed certificate (not a CA) with SAN IP:127.0.0.1 and DNS:localhost;
/// usable as a server certificate that no test CA vouches for.
pem_pair make_self_signed(const std::string& common_name = "localhost");

/// A certificate signed by `ca` (a test_pki's ca): CN `common_name`, the
/// subjectAltName `san` in OpenSSL's form ("DNS:node-1,IP:127.0.0.2"; "" =
/// none), extendedKeyUsage serverAuth or clientAuth.
pem_pair issue_cert(const pem_pair& ca, const std::string& common_name, const std::string& san,
                    bool server);

} // namespace olocal::test
