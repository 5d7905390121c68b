// The wire codec: valid messages round-trip; truncated, oversized and garbage ones are refused
// with the reason, never half-parsed.
#include "protocol.hpp"

#include <random>
#include <vector>

// cmocka last: its fail() macro would clash with the standard library headers.
#include "cmocka_main.hpp"

namespace proto = fotostudio::protocol;

namespace {

std::vector<std::uint8_t> encoded(const proto::Message& message)
{
    std::vector<std::uint8_t> bytes;
    assert_true(message.encode(bytes));
    return bytes;
}

proto::DecodeError error_of(const std::vector<std::uint8_t>& bytes)
{
    return proto::decode(bytes).error;
}

void a_request_survives_encoding_and_decoding(void**)
{
    proto::Message request(proto::MessageType::AuthVerify);
    request.set(proto::Field::User, "alice").set(proto::Field::Code, "123456");
    request.set(proto::Field::RemoteHost, "::ffff:198.51.100.7");

    const auto decoded = proto::decode(encoded(request));
    assert_int_equal(decoded.error, proto::DecodeError::None);
    assert_true(decoded.message.has_value());
    assert_int_equal(decoded.message->type(), proto::MessageType::AuthVerify);
    assert_true(*decoded.message->get(proto::Field::User) == "alice");
    assert_true(*decoded.message->get(proto::Field::Code) == "123456");
    assert_true(*decoded.message->get(proto::Field::RemoteHost) == "::ffff:198.51.100.7");
    assert_false(decoded.message->has(proto::Field::Tty));
}

void numbers_and_statuses_survive_encoding(void**)
{
    proto::Message reply = proto::make_reply(proto::ReplyStatus::Ok, "fine");
    reply.set_u64(proto::Field::Since, 0x0102030405060708ULL).set_u8(proto::Field::Enrolled, 1);

    const auto decoded = proto::decode(encoded(reply));
    assert_true(decoded.message.has_value());
    assert_int_equal(*proto::reply_status(*decoded.message), proto::ReplyStatus::Ok);
    assert_int_equal(*decoded.message->get_u64(proto::Field::Since), 0x0102030405060708ULL);
    assert_int_equal(*decoded.message->get_u8(proto::Field::Enrolled), 1);
    assert_true(*decoded.message->get(proto::Field::Text) == "fine");
}

void every_truncation_of_a_valid_message_is_refused(void**)
{
    proto::Message request(proto::MessageType::EnrolBegin);
    request.set(proto::Field::User, "bob").set(proto::Field::Mode, "always");
    const auto bytes = encoded(request);

    // Cutting inside the header or inside a field is an error; cutting exactly between two
    // fields yields a shorter valid message, which the daemon then finds lacking a field.
    for (std::size_t length = 0; length < bytes.size(); ++length) {
        const std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + length);
        const auto decoded = proto::decode(cut);
        const bool field_boundary = length == 4 || length == 4 + 3 + 3;
        if (field_boundary)
            assert_true(decoded.message.has_value());
        else
            assert_false(decoded.message.has_value());
    }
}

void an_oversized_message_is_refused_and_cannot_be_encoded(void**)
{
    std::vector<std::uint8_t> big(proto::kMaxMessageSize + 1, 0);
    big[0] = 'F';
    big[1] = 'S';
    big[2] = proto::kVersion;
    big[3] = static_cast<std::uint8_t>(proto::MessageType::Status);
    assert_int_equal(error_of(big), proto::DecodeError::TooLong);

    proto::Message huge(proto::MessageType::AuthVerify);
    huge.set(proto::Field::Code, std::string(proto::kMaxMessageSize, 'x'));
    std::vector<std::uint8_t> out;
    assert_false(huge.encode(out));
}

void a_header_that_is_not_ours_is_refused_with_its_reason(void**)
{
    assert_int_equal(error_of({'F', 'S', 1}), proto::DecodeError::TooShort);
    assert_int_equal(error_of({'G', 'S', 1, 1}), proto::DecodeError::BadMagic);
    assert_int_equal(error_of({'F', 'S', 2, 1}), proto::DecodeError::BadVersion);
    assert_int_equal(error_of({'F', 'S', 1, 200}), proto::DecodeError::UnknownType);
}

void bad_fields_are_refused_with_their_reason(void**)
{
    // Field 1 (user) claims 10 bytes but carries 2.
    assert_int_equal(error_of({'F', 'S', 1, 1, 1, 0, 10, 'a', 'b'}),
                     proto::DecodeError::TruncatedField);
    // Half a field header.
    assert_int_equal(error_of({'F', 'S', 1, 1, 1, 0}), proto::DecodeError::TruncatedField);
    // Tag 99 does not exist.
    assert_int_equal(error_of({'F', 'S', 1, 1, 99, 0, 1, 'a'}), proto::DecodeError::UnknownField);
    // The user field twice.
    assert_int_equal(error_of({'F', 'S', 1, 1, 1, 0, 1, 'a', 1, 0, 1, 'b'}),
                     proto::DecodeError::RepeatedField);
    // A NUL byte inside a text value.
    assert_int_equal(error_of({'F', 'S', 1, 1, 1, 0, 3, 'a', 0, 'b'}),
                     proto::DecodeError::BadValue);
    // A u64 field (Since, 13) with 4 bytes.
    assert_int_equal(error_of({'F', 'S', 1, 64, 13, 0, 4, 1, 2, 3, 4}),
                     proto::DecodeError::BadValue);
}

void random_garbage_never_decodes_into_a_message_by_accident_of_length(void**)
{
    // Random bytes almost never start with the magic; those that do must still pass every check.
    std::mt19937 generator(20261204);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<int> size(0, 64);
    for (int round = 0; round < 20000; ++round) {
        std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size(generator)));
        for (auto& b : bytes)
            b = static_cast<std::uint8_t>(byte(generator));
        if (bytes.size() >= 3) {
            bytes[0] = 'F';
            bytes[1] = 'S';
            bytes[2] = proto::kVersion;
        }
        const auto decoded = proto::decode(bytes);
        if (decoded.message) {
            // Whatever decoded must encode back to the very same bytes.
            std::vector<std::uint8_t> again;
            assert_true(decoded.message->encode(again));
            assert_memory_equal(again.data(), bytes.data(), bytes.size());
            assert_int_equal(again.size(), bytes.size());
        } else {
            assert_int_not_equal(decoded.error, proto::DecodeError::None);
        }
    }
}

void a_reply_with_an_unknown_status_has_no_status(void**)
{
    proto::Message reply(proto::MessageType::Reply);
    reply.set_u8(proto::Field::ResultCode, 250);
    assert_false(proto::reply_status(reply).has_value());
    assert_false(proto::reply_status(proto::Message(proto::MessageType::Reply)).has_value());
    assert_false(proto::reply_status(proto::Message(proto::MessageType::Status)).has_value());
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_request_survives_encoding_and_decoding),
        cmocka_unit_test(numbers_and_statuses_survive_encoding),
        cmocka_unit_test(every_truncation_of_a_valid_message_is_refused),
        cmocka_unit_test(an_oversized_message_is_refused_and_cannot_be_encoded),
        cmocka_unit_test(a_header_that_is_not_ours_is_refused_with_its_reason),
        cmocka_unit_test(bad_fields_are_refused_with_their_reason),
        cmocka_unit_test(random_garbage_never_decodes_into_a_message_by_accident_of_length),
        cmocka_unit_test(a_reply_with_an_unknown_status_has_no_status),
    };
    return cmocka_run_group_tests_name("protocol", tests, nullptr, nullptr);
}
