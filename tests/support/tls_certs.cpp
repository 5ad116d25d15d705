#include "tests/support/tls_certs.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace olocal::test {
namespace {

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct x509_free {
  void operator()(X509* p) const { X509_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct name_free {
  void operator()(X509_NAME* p) const { X509_NAME_free(p); }
};
struct bn_free {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using name_ptr = std::unique_ptr<X509_NAME, name_free>;
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;

[[noreturn]] void fail(const std::string& what) {
  std::string detail;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    detail += detail.empty() ? ": " : "; ";
    detail += buf;
  }
  throw std::runtime_error("test PKI: " + what + detail);
}

void check(int rc, const char* what) {
  if (rc <= 0)
    fail(what);
}

pkey_ptr make_key() {
  pkey_ptr key{EVP_EC_gen("P-256")};
  if (!key)
    fail("EC P-256 key generation failed");
  return key;
}

name_ptr make_name(const std::vector<std::pair<std::string, std::string>>& entries) {
  name_ptr name{X509_NAME_new()};
  if (!name)
    fail("X509_NAME_new");
  for (const auto& [field, value] : entries)
    check(X509_NAME_add_entry_by_txt(name.get(), field.c_str(), MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                     0),
          "X509_NAME_add_entry_by_txt");
  return name;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr)
    fail(std::string{"extension "} + OBJ_nid2sn(nid) + "=" + value);
  int rc = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  check(rc, "X509_add_ext");
}

struct cert_spec {
  std::vector<std::pair<std::string, std::string>> subject;
  std::vector<std::pair<int, const char*>> extensions; ///< besides the key identifiers
};

/// Builds and signs a certificate for `key`; self-signed when issuer is null.
x509_ptr make_cert(const cert_spec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  x509_ptr cert{X509_new()};
  if (!cert)
    fail("X509_new");
  check(X509_set_version(cert.get(), 2), "X509_set_version");

  bn_ptr serial{BN_new()};
  if (!serial)
    fail("BN_new");
  check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "BN_rand");
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr)
    fail("BN_to_ASN1_INTEGER");

  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600) == nullptr)
    fail("X509_gmtime_adj");
  check(X509_set_pubkey(cert.get(), key), "X509_set_pubkey");

  name_ptr subject = make_name(spec.subject);
  check(X509_set_subject_name(cert.get(), subject.get()), "X509_set_subject_name");
  X509* issuer_cert = issuer != nullptr ? issuer : cert.get();
  check(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)),
        "X509_set_issuer_name");

  for (const auto& [nid, value] : spec.extensions)
    add_extension(cert.get(), issuer_cert, nid, value);
  add_extension(cert.get(), issuer_cert, NID_subject_key_identifier, "hash");
  add_extension(cert.get(), issuer_cert, NID_authority_key_identifier, "keyid:always");

  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) <= 0)
    fail("X509_sign");
  return cert;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

pem_pair to_pem(X509* cert, EVP_PKEY* key) {
  bio_ptr cert_bio{BIO_new(BIO_s_mem())};
  bio_ptr key_bio{BIO_new(BIO_s_mem())};
  if (!cert_bio || !key_bio)
    fail("BIO_new");
  check(PEM_write_bio_X509(cert_bio.get(), cert), "PEM_write_bio_X509");
  check(PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr),
        "PEM_write_bio_PrivateKey");
  return {bio_text(cert_bio.get()), bio_text(key_bio.get())};
}

constexpr const char* loopback_san = "IP:127.0.0.1,DNS:localhost";

} // namespace

test_pki make_test_pki(std::string client_common_name) {
  pkey_ptr ca_key = make_key();
  x509_ptr ca = make_cert({{{"CN", "open-local-test-ca"}},
                           {{NID_basic_constraints, "critical,CA:TRUE"},
                            {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"}}},
                          ca_key.get(), nullptr, nullptr);

  pkey_ptr server_key = make_key();
  x509_ptr server = make_cert({{{"CN", "localhost"}},
                               {{NID_basic_constraints, "critical,CA:FALSE"},
                                {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                                {NID_ext_key_usage, "serverAuth"},
                                {NID_subject_alt_name, loopback_san}}},
                              server_key.get(), ca.get(), ca_key.get());

  pkey_ptr client_key = make_key();
  x509_ptr client = make_cert({{{"O", "system:masters"}, {"CN", client_common_name}},
                               {{NID_basic_constraints, "critical,CA:FALSE"},
                                {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                                {NID_ext_key_usage, "clientAuth"}}},
                              client_key.get(), ca.get(), ca_key.get());

  return {to_pem(ca.get(), ca_key.get()), to_pem(server.get(), server_key.get()),
          to_pem(client.get(), client_key.get())};
}

pem_pair make_self_signed(const std::string& common_name) {
  pkey_ptr key = make_key();
  x509_ptr cert = make_cert({{{"CN", common_name}},
                             {{NID_basic_constraints, "critical,CA:FALSE"},
                              {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                              {NID_ext_key_usage, "serverAuth,clientAuth"},
                              {NID_subject_alt_name, loopback_san}}},
                            key.get(), nullptr, nullptr);
  return to_pem(cert.get(), key.get());
}

pem_pair issue_cert(const pem_pair& ca, const std::string& common_name, const std::string& san,
                    bool server) {
  bio_ptr cert_bio{BIO_new_mem_buf(ca.cert.data(), static_cast<int>(ca.cert.size()))};
  bio_ptr key_bio{BIO_new_mem_buf(ca.key.data(), static_cast<int>(ca.key.size()))};
  if (!cert_bio || !key_bio)
    fail("BIO_new_mem_buf");
  x509_ptr ca_cert{PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)};
  pkey_ptr ca_key{PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr)};
  if (!ca_cert || !ca_key)
    fail("reading the CA's PEM");
  cert_spec spec{{{"CN", common_name}},
                 {{NID_basic_constraints, "critical,CA:FALSE"},
                  {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                  {NID_ext_key_usage, server ? "serverAuth" : "clientAuth"}}};
  if (!san.empty())
    spec.extensions.emplace_back(NID_subject_alt_name, san.c_str());
  pkey_ptr key = make_key();
  x509_ptr cert = make_cert(spec, key.get(), ca_cert.get(), ca_key.get());
  return to_pem(cert.get(), key.get());
}

} // namespace olocal::test
