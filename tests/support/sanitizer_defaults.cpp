// Linked into every test binary of a sanitizer build: the options the
// sanitizers read at start, so that any report fails the test wherever the
// binary runs (ctest, by hand, inside the VM). The environment's
// ASAN_OPTIONS / UBSAN_OPTIONS still override these.

#ifndef OLOCAL_UBSAN_SUPPRESSIONS
#error "OLOCAL_UBSAN_SUPPRESSIONS must name tests/sanitizers.supp"
#endif

extern "C" const char* __asan_default_options() {
  return "detect_leaks=1:abort_on_error=1:strict_init_order=1";
}

extern "C" const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1:suppressions=" OLOCAL_UBSAN_SUPPRESSIONS;
}

// LeakSanitizer: third-party leaks only, each with its reason. gRPC 1.51
// over OpenSSL 3 can leave an OpenSSL object (904-2712 bytes from
// CRYPTO_zalloc) when a channel goes away while its TLS handshake is still
// in flight at the end of a test (seen in agent_rpc_test's slow-node test,
// about one run in twenty-four on a loaded machine). Nothing of ours is
// matched: the allocation is made inside libcrypto.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libcrypto.so\n";
}
