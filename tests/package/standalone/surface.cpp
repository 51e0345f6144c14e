// What a user can reach: the library's plumbing (message bodies, the handles' constructors from
// library state, a delivery's settle, the state behind a handle) is private to the library,
// which reaches it through detail::Access, a class no installed header defines.
#include <switchyard/switchyard.hpp>

#include <cstdint>
#include <memory>
#include <type_traits>

namespace sy = switchyard;

template <class M>
concept reads_body = requires(const M& m) {
  m.body();
};
template <class M>
concept adopts_body = requires(sy::detail::MessageBody* b) {
  M::adopt(b);
};
template <class D>
concept settles_by_hand = requires(D& d, sy::detail::Settle how) {
  d.settle(how, "", true);
};
template <class H>
concept exposes_state = requires(const H& h) {
  h.state();
};
template <class B>
concept exposes_core = requires(const B& b) {
  b.core();
};

static_assert(!reads_body<sy::Message> && !adopts_body<sy::Message>,
              "a message's body is the library's");
static_assert(!settles_by_hand<sy::Delivery>, "a delivery settles through ack, nack, reject");
static_assert(!exposes_state<sy::Queue> && !exposes_state<sy::Topic> && !exposes_core<sy::Broker>,
              "the state behind a handle is the library's");
static_assert(!std::is_constructible_v<sy::Delivery, std::shared_ptr<sy::detail::ConsumerState>,
                                       sy::Message, std::uint32_t, std::uint64_t, std::uint32_t>,
              "a Delivery is built by its consumer only");
static_assert(
    !std::is_constructible_v<sy::Queue, std::shared_ptr<sy::detail::QueueState>> &&
        !std::is_constructible_v<sy::Topic, std::shared_ptr<sy::detail::TopicBase>> &&
        !std::is_constructible_v<sy::Exchange, std::shared_ptr<sy::detail::ExchangeState>> &&
        !std::is_constructible_v<sy::Producer, std::shared_ptr<sy::detail::Registry>> &&
        !std::is_constructible_v<sy::Consumer, std::shared_ptr<sy::detail::ConsumerState>,
                                 sy::ConsumerOptions> &&
        !std::is_constructible_v<sy::GroupConsumer, std::shared_ptr<sy::detail::GroupMember>> &&
        !std::is_constructible_v<sy::Subscription, std::shared_ptr<sy::detail::SubscriptionState>>,
    "handles come from the Broker only");
// What a user does reach stays reachable.
static_assert(std::is_default_constructible_v<sy::Queue> &&
              std::is_copy_constructible_v<sy::Queue>);
static_assert(requires(const sy::Message& m) {
  m.payload();
  m.headers();
  m.id();
});

int main() {
  return 0;
}
