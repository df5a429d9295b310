/*
 * A stand-in "libcrypto.so" for Debian 12's civetweb (see libssl_shim.c): SONAME "libcrypto.so",
 * depending on the real libcrypto.so.3, so that civetweb's dlopen("libcrypto.so") works without
 * the libssl-dev package (which is what provides the unversioned libcrypto.so name). Every
 * function civetweb looks up comes from the dependency; this file defines nothing of its own.
 */
__attribute__((visibility("hidden"))) int tracegap_libcrypto_shim;
