// Holds the tests' precompiled header (tests/CMakeLists.txt: switchyard_test_pch); every test
// target reuses it. Nothing to compile of its own.
