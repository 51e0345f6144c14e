// The Transport seam's one out-of-line member. Design: switchyard/transport.hpp and
// transport/remote_topic.hpp.
#include "switchyard/transport.hpp"

namespace switchyard {

Transport::~Transport() = default;

}  // namespace switchyard
