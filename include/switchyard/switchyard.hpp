// switchyard/switchyard.hpp — everything, in one include.
#pragma once

#include "switchyard/clock.hpp"
#include "switchyard/error.hpp"
#include "switchyard/version.hpp"
#include "switchyard/wait_strategy.hpp"
