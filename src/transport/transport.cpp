// The Transport seam's out-of-line members: the destructor, and the kinds a transport does not
// carry refused. Design: switchyard/transport.hpp, transport/remote_topic.hpp,
// queue/remote_queue.hpp, route/remote_exchange.hpp.
#include "switchyard/transport.hpp"

#include <string>

#include "queue/remote_queue.hpp"
#include "route/remote_exchange.hpp"
#include "switchyard/error.hpp"
#include "transport/remote_topic.hpp"

namespace switchyard {

namespace {

[[noreturn]] void refuse(const Transport& transport, std::string_view kind,
                         std::string_view name) {
  throw Error(Errc::invalid_argument, std::string(transport.name()) + " cannot hold a " +
                                          std::string(kind) + " ('" + std::string(name) + "')");
}

}  // namespace

Transport::~Transport() = default;

std::shared_ptr<detail::RemoteTopic> Transport::open_topic(std::string_view name,
                                                           const TopicOptions&,
                                                           std::shared_ptr<Clock>,
                                                           std::shared_ptr<const detail::Hooks>) {
  refuse(*this, "topic", name);
}

std::shared_ptr<detail::RemoteQueue> Transport::open_queue(std::string_view name,
                                                           const QueueOptions&,
                                                           std::shared_ptr<Clock>,
                                                           std::shared_ptr<const detail::Hooks>) {
  refuse(*this, "queue", name);
}

std::shared_ptr<detail::RemoteExchange> Transport::open_exchange(
    std::string_view name, ExchangeType, const ExchangeOptions&, std::shared_ptr<Clock>,
    std::shared_ptr<const detail::Hooks>) {
  refuse(*this, "exchange", name);
}

}  // namespace switchyard
