// switchyard/switchyard.hpp — everything, in one include.
#pragma once

#include "switchyard/broker.hpp"
#include "switchyard/clock.hpp"
#include "switchyard/codec.hpp"
#include "switchyard/consumer.hpp"
#include "switchyard/delivery.hpp"
#include "switchyard/error.hpp"
#include "switchyard/group_consumer.hpp"
#include "switchyard/headers.hpp"
#include "switchyard/message.hpp"
#include "switchyard/producer.hpp"
#include "switchyard/queue.hpp"
#include "switchyard/record.hpp"
#include "switchyard/send_options.hpp"
#include "switchyard/topic.hpp"
#include "switchyard/version.hpp"
#include "switchyard/wait_strategy.hpp"
