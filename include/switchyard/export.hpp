// switchyard/export.hpp — the shared library's export set.
//
// The library is compiled with hidden visibility (-fvisibility=hidden
// -fvisibility-inlines-hidden). In a shared build (`BUILD_SHARED_LIBS=ON`, which defines
// SWITCHYARD_SHARED for the library and, through the package, for its users) only the
// declarations marked SWITCHYARD_EXPORT are in libswitchyard.so's dynamic symbol table: the
// public handles of include/switchyard/ (Broker, Producer, Consumer, Delivery, Queue, Topic,
// Exchange, GroupConsumer, PollBatch, Subscription), Clock and SystemClock and Error (their
// type information and SystemClock::instance() are one across the library boundary),
// detail::BlockPool (the one pool that inline message code and the library allocate from) and
// library_version(). A class defined wholly in a header (ManualClock, Headers, Result) has
// nothing to export. Nothing in src/ is exported. In a static build the macro is empty.
//
// The export set is part of the ABI: it changes only with the SOVERSION (CMakeLists.txt).
// A new public class defined in src/ is marked on its declaration line:
// `class SWITCHYARD_EXPORT Name {`. tests/package/symbols.cmake checks the set (package_shared).
#pragma once

#if defined(SWITCHYARD_SHARED) && (defined(__GNUC__) || defined(__clang__))
#define SWITCHYARD_EXPORT [[gnu::visibility("default")]]
#else
#define SWITCHYARD_EXPORT
#endif
