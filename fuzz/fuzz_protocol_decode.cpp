// The protocol decoder (shared/protocol.hpp) on arbitrary datagrams, as the daemon receives them
// from any local process and the clients from whatever listens on the socket path.
//
// Besides memory errors and undefined behaviour, it checks the codec's promise that a message
// is checked in full before any of it is used: whatever decode() accepts encodes again to the
// very same bytes, and its getters never read beyond what was decoded.
#include "check.hpp"

#include "protocol.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace protocol = fotostudio::protocol;

namespace {

// Every tag from 0 to 255, so that the getters meet known, unknown and absent fields alike.
void read_every_field(const protocol::Message& message)
{
    for (unsigned tag = 0; tag < 256; ++tag) {
        const auto field = static_cast<protocol::Field>(tag);
        const auto text = message.get(field);
        const auto wide = message.get_u64(field);
        const auto narrow = message.get_u8(field);
        fuzz::require(message.has(field) == text.has_value(), "has() agrees with get()");
        fuzz::require(!wide || text->size() == 8, "get_u64 only for 8-byte values");
        fuzz::require(!narrow || text->size() == 1, "get_u8 only for 1-byte values");
    }
    (void)protocol::reply_status(message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::span<const std::uint8_t> bytes(data, size);
    const protocol::Decoded decoded = protocol::decode(bytes);
    fuzz::require(decoded.message.has_value() == (decoded.error == protocol::DecodeError::None),
                  "a message exactly when there is no error");
    (void)protocol::to_string(decoded.error);
    if (!decoded.message)
        return 0;

    read_every_field(*decoded.message);

    std::vector<std::uint8_t> encoded;
    fuzz::require(decoded.message->encode(encoded), "an accepted message encodes again");
    fuzz::require(encoded.size() == size &&
                      std::equal(encoded.begin(), encoded.end(), bytes.begin()),
                  "an accepted message encodes to the bytes it came from");
    return 0;
}
