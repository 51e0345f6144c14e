// switchyard/testing.hpp — the test kit: flows tested deterministically, in virtual time that
// never hangs and never sleeps (docs/testing.md is the guide).
//
//  * testing/virtual_clock.hpp — `VirtualClock`: time jumps to the next deadline when every
//    thread of the test is blocked on the broker; `advance` that waits for the flow.
//  * testing/recorder.hpp — `Recorder`: every send, delivery, settlement, redelivery, dead
//    letter, expiry, drop, pub/sub delivery and group commit, with virtual time; queries and
//    bounded awaits.
//  * testing/dispatcher.hpp — `Dispatcher`: queue consumers, group members and pub/sub handlers
//    run on the test's thread, one step at a time (`step`, `run_until_idle`, `run_for`), with a
//    seed for reproducible random interleavings.
//  * testing/faults.hpp — `Fault`s for the dispatcher's deliveries (duplicate, lost ack, crash,
//    delay, reorder) and `SendFaults`, an interceptor that fails producer sends.
//  * testing/durable_sandbox.hpp — `DurableSandbox`: a durable broker a test restarts.
//  * testing/catch.hpp — Catch2 matchers over a recorder (include it yourself, after Catch2).
//
// Not part of `switchyard.hpp`: a program that does not test pays nothing for it.
#pragma once

#include "switchyard/testing/dispatcher.hpp"
#include "switchyard/testing/durable_sandbox.hpp"
#include "switchyard/testing/faults.hpp"
#include "switchyard/testing/recorder.hpp"
#include "switchyard/testing/virtual_clock.hpp"
