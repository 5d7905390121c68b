// pam-bench: runs complete PAM transactions (pam_start, pam_authenticate, pam_end) against one
// service of a private service directory and reports their rate, their latency and how each
// ended, so that a run whose logins did not really succeed cannot pass for a fast one.
//
//   pam-bench --confdir DIR --service NAME --first I --users K [--transactions M] [--procs P]
//             [--mode right|wrong|replay|recovery] [--slot S] [--scratch] [--warmup-user W]
//             [--record FILE] [--replay-from FILE] [--expect success|refused]
//             [--fresh-process PAM-ONCE]
//   pam-bench --direct SOCKET [--one-connection] ...   (the same, by the daemon's protocol)
//
// Transaction j logs in user I + (j mod K) (bench_users.hpp names them and derives their
// secrets), answering every prompt with:
//   right     the TOTP code of the current step
//   wrong     a code that matches no step of the window
//   replay    the code that an untimed transaction just before, for the same user, had accepted
//   recovery  the user's recovery code number S (google-authenticator's scratch code S with
//             --scratch)
// --record writes "index code" of every accepted right code; --replay-from answers with those
// codes instead, to check after a concurrent run that every accepted code was recorded.
// With P processes, transaction j runs in process j mod P; they start together and the rate is
// all transactions over the wall time. --warmup-user runs one untimed wrong-code transaction of
// that user in each process first, so that loading the modules is not counted.
//
// --fresh-process runs every transaction in a new process, forked and executing PAM-ONCE (the
// pam-once program built beside this one), as sshd runs each connection's login in a process of
// its own: the time then includes starting the process and loading the modules and their
// libraries into it, which --warmup-user keeps out of the other runs.
//
// --direct replaces libpam and the module with the requests the module sends (AuthQuery with
// CountAttempt, then AuthVerify), each on a new connection, or both on one with --one-connection
// as the module sends them (one connection per pam_authenticate): the daemon's own capacity.
//
// Output: one line "result key=value ..." (the run script reads it) and a readable summary. The
// exit status is 1 when --expect is given and some transaction ended otherwise.
#include "bench_users.hpp"
#include "client.hpp"
#include "protocol.hpp"

#include <liboath/oath.h>
#include <security/pam_appl.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace proto = fotostudio::protocol;
using Clock = std::chrono::steady_clock;

enum class Mode { Right, Wrong, Replay, Recovery };

struct Options {
    std::string confdir;
    std::string service;
    std::string direct_socket;
    bool one_connection = false;
    long first = 0;
    long users = 1;
    long transactions = -1;  // default: one per user
    int procs = 1;
    Mode mode = Mode::Right;
    int slot = 0;
    bool scratch = false;
    long warmup_user = -1;
    std::string record;
    std::string replay_from;
    std::string expect;
    std::string fresh_process;  // pam-once's path: one process per transaction
};

// One timed transaction: how it ended and how long it took.
struct Sample {
    int result;
    std::uint64_t nanoseconds;
};

bool parse_long(const char* text, long& out)
{
    const auto end = text + std::strlen(text);
    const auto [ptr, error] = std::from_chars(text, end, out);
    return error == std::errc() && ptr == end && out >= 0;
}

std::optional<Mode> parse_mode(std::string_view text)
{
    if (text == "right")
        return Mode::Right;
    if (text == "wrong")
        return Mode::Wrong;
    if (text == "replay")
        return Mode::Replay;
    if (text == "recovery")
        return Mode::Recovery;
    return std::nullopt;
}

const char* mode_name(Mode mode)
{
    switch (mode) {
    case Mode::Right: return "right";
    case Mode::Wrong: return "wrong";
    case Mode::Replay: return "replay";
    case Mode::Recovery: return "recovery";
    }
    return "?";
}

bool parse(int argc, char** argv, Options& o)
{
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        long n = 0;
        if (a == "--one-connection") {
            o.one_connection = true;
        } else if (a == "--scratch") {
            o.scratch = true;
        } else if (has_value && a == "--confdir") {
            o.confdir = argv[++i];
        } else if (has_value && a == "--service") {
            o.service = argv[++i];
        } else if (has_value && a == "--direct") {
            o.direct_socket = argv[++i];
        } else if (has_value && a == "--record") {
            o.record = argv[++i];
        } else if (has_value && a == "--replay-from") {
            o.replay_from = argv[++i];
        } else if (has_value && a == "--fresh-process") {
            o.fresh_process = argv[++i];
        } else if (has_value && a == "--expect") {
            o.expect = argv[++i];
        } else if (has_value && a == "--mode" && parse_mode(argv[i + 1])) {
            o.mode = *parse_mode(argv[++i]);
        } else if (has_value && a == "--first" && parse_long(argv[++i], n)) {
            o.first = n;
        } else if (has_value && a == "--users" && parse_long(argv[++i], n) && n > 0) {
            o.users = n;
        } else if (has_value && a == "--transactions" && parse_long(argv[++i], n)) {
            o.transactions = n;
        } else if (has_value && a == "--procs" && parse_long(argv[++i], n) && n > 0 && n <= 256) {
            o.procs = static_cast<int>(n);
        } else if (has_value && a == "--slot" && parse_long(argv[++i], n) && n < 10) {
            o.slot = static_cast<int>(n);
        } else if (has_value && a == "--warmup-user" && parse_long(argv[++i], n)) {
            o.warmup_user = n;
        } else {
            std::fprintf(stderr, "pam-bench: bad or incomplete argument %s\n", a.c_str());
            return false;
        }
    }
    const bool pam = !o.confdir.empty() && !o.service.empty();
    if (pam == !o.direct_socket.empty() ||
        (o.expect != "" && o.expect != "success" && o.expect != "refused")) {
        std::fprintf(stderr, "usage: pam-bench (--confdir DIR --service NAME | --direct SOCKET) "
                             "--first I --users K [options]; see the head of pam_bench.cpp\n");
        return false;
    }
    if (o.transactions < 0)
        o.transactions = o.users;
    return true;
}

std::string totp_code(long index, std::time_t at)
{
    const std::string secret = fsbench::secret_of(index);
    char code[16] = {};
    if (oath_totp_generate(secret.data(), secret.size(), at, 30, 0, 6, code) != OATH_OK)
        return "000000";
    return code;
}

// A code that none of the steps from 2 before to 2 after now would accept.
std::string wrong_code(long index, std::time_t now)
{
    std::vector<std::string> near;
    for (int step = -2; step <= 2; ++step)
        near.push_back(totp_code(index, now + step * 30));
    for (long candidate = 0;; candidate += 111111) {
        char code[16];
        std::snprintf(code, sizeof(code), "%06ld", candidate % 1000000);
        if (std::find(near.begin(), near.end(), code) == near.end())
            return code;
    }
}

// --- through libpam ---

int answer_prompts(int count, const pam_message** messages, pam_response** responses, void* data)
{
    const auto* answer = static_cast<const std::string*>(data);
    auto* out = static_cast<pam_response*>(
        std::calloc(static_cast<std::size_t>(count), sizeof(pam_response)));
    if (!out)
        return PAM_BUF_ERR;
    for (int i = 0; i < count; ++i) {
        const int style = messages[i]->msg_style;
        if (style == PAM_PROMPT_ECHO_OFF || style == PAM_PROMPT_ECHO_ON)
            out[i].resp = ::strdup(answer->c_str());
    }
    *responses = out;
    return PAM_SUCCESS;
}

// Kept out of line so that callgrind can count exactly this (--toggle-collect=*pam_transaction*).
__attribute__((noinline)) int pam_transaction(const Options& o, const std::string& user,
                                              const std::string& answer)
{
    const pam_conv conversation{answer_prompts, const_cast<std::string*>(&answer)};
    pam_handle_t* pamh = nullptr;
    int status =
        pam_start_confdir(o.service.c_str(), user.c_str(), &conversation, o.confdir.c_str(), &pamh);
    if (status != PAM_SUCCESS)
        return status;
    status = pam_authenticate(pamh, 0);
    pam_end(pamh, status);
    return status;
}

// The same transaction in a new process running pam-once, which exits with the PAM result.
int fresh_process_transaction(const Options& o, const std::string& user, const std::string& answer)
{
    const pid_t child = fork();
    if (child < 0)
        return PAM_SYSTEM_ERR;
    if (child == 0) {
        execl(o.fresh_process.c_str(), "pam-once", o.confdir.c_str(), o.service.c_str(),
              user.c_str(), answer.c_str(), static_cast<char*>(nullptr));
        _exit(254);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR)
            return PAM_SYSTEM_ERR;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) >= 254)
        return PAM_SYSTEM_ERR;  // killed, or pam-once could not start: never a success
    return WEXITSTATUS(status) == 255 ? PAM_ABORT : WEXITSTATUS(status);
}

// --- by the protocol (--direct) ---

// Results of the direct client, numbered past libpam's codes so that both share one table.
enum DirectResult { kDirectOk = 1000, kDirectRejected, kDirectOther, kDirectTransport };

proto::Message login_request(proto::MessageType type, const std::string& user)
{
    proto::Message message(type);
    message.set(proto::Field::User, user);
    message.set(proto::Field::Service, "bench");
    message.set(proto::Field::RemoteHost, "192.0.2.1");
    return message;
}

std::optional<proto::ReplyStatus> exchange(const Options& o, fotostudio::client::Connection& kept,
                                           const proto::Message& request)
{
    fotostudio::client::Connection fresh;
    fotostudio::client::Connection& connection = o.one_connection ? kept : fresh;
    if (!o.one_connection &&
        connection.open(o.direct_socket, 0, std::chrono::seconds(10)).failure !=
            fotostudio::client::Failure::None)
        return std::nullopt;
    const auto outcome = connection.request(request);
    if (!outcome.reply)
        return std::nullopt;
    return proto::reply_status(*outcome.reply);
}

int direct_transaction(const Options& o, const std::string& user, const std::string& answer)
{
    fotostudio::client::Connection kept;
    if (o.one_connection && kept.open(o.direct_socket, 0, std::chrono::seconds(10)).failure !=
                                fotostudio::client::Failure::None)
        return kDirectTransport;

    // The module's code stage without a preauth line: the query counts the attempt too.
    auto counted_query = login_request(proto::MessageType::AuthQuery, user);
    counted_query.set_u8(proto::Field::CountAttempt, 1);
    const auto query = exchange(o, kept, counted_query);
    if (!query)
        return kDirectTransport;
    if (*query != proto::ReplyStatus::CodeRequired)
        return kDirectOther;
    auto verify = login_request(proto::MessageType::AuthVerify, user);
    verify.set(proto::Field::Code, answer);
    const auto verified = exchange(o, kept, verify);
    if (!verified)
        return kDirectTransport;
    if (*verified == proto::ReplyStatus::Ok)
        return kDirectOk;
    return *verified == proto::ReplyStatus::Rejected ? kDirectRejected : kDirectOther;
}

std::string result_name(int result)
{
    switch (result) {
    case kDirectOk: return "daemon-Ok";
    case kDirectRejected: return "daemon-Rejected";
    case kDirectOther: return "daemon-other";
    case kDirectTransport: return "daemon-unreachable";
    case PAM_SUCCESS: return "PAM_SUCCESS";
    case PAM_AUTH_ERR: return "PAM_AUTH_ERR";
    case PAM_PERM_DENIED: return "PAM_PERM_DENIED";
    case PAM_MAXTRIES: return "PAM_MAXTRIES";
    case PAM_USER_UNKNOWN: return "PAM_USER_UNKNOWN";
    case PAM_AUTHINFO_UNAVAIL: return "PAM_AUTHINFO_UNAVAIL";
    case PAM_SERVICE_ERR: return "PAM_SERVICE_ERR";
    case PAM_SYSTEM_ERR: return "PAM_SYSTEM_ERR";
    case PAM_CONV_ERR: return "PAM_CONV_ERR";
    case PAM_IGNORE: return "PAM_IGNORE";
    case PAM_ABORT: return "PAM_ABORT";
    default: return "PAM_" + std::to_string(result);
    }
}

bool is_success(int result)
{
    return result == PAM_SUCCESS || result == kDirectOk;
}

int transaction(const Options& o, const std::string& user, const std::string& answer)
{
    if (!o.direct_socket.empty())
        return direct_transaction(o, user, answer);
    return o.fresh_process.empty() ? pam_transaction(o, user, answer)
                                   : fresh_process_transaction(o, user, answer);
}

// The recorded (index, code) pairs of --replay-from.
std::vector<std::pair<long, std::string>> read_recorded(const std::string& path)
{
    std::vector<std::pair<long, std::string>> pairs;
    FILE* file = std::fopen(path.c_str(), "re");
    if (!file)
        return pairs;
    long index = 0;
    char code[32];
    while (std::fscanf(file, "%ld %31s", &index, code) == 2)
        pairs.emplace_back(index, code);
    std::fclose(file);
    return pairs;
}

std::string answer_for(const Options& o, long index)
{
    const std::time_t now = std::time(nullptr);
    switch (o.mode) {
    case Mode::Right:
    case Mode::Replay: return totp_code(index, now);
    case Mode::Wrong: return wrong_code(index, now);
    case Mode::Recovery:
        return o.scratch ? fsbench::scratch_code(index, o.slot)
                         : fsbench::recovery_code(index, o.slot);
    }
    return {};
}

struct WorkerOutput {
    std::vector<Sample> samples;
    long setup_failures = 0;  // replay mode: the first, untimed use was refused
};

void write_samples(FILE* out, const WorkerOutput& result)
{
    std::fprintf(out, "%ld\n", result.setup_failures);
    for (const auto& sample : result.samples)
        std::fprintf(out, "%d %llu\n", sample.result,
                     static_cast<unsigned long long>(sample.nanoseconds));
}

WorkerOutput run_worker(const Options& o, int worker, int start_fd, FILE* recorded,
                        const std::vector<std::pair<long, std::string>>& replays)
{
    if (o.warmup_user >= 0)
        (void)transaction(o, fsbench::user_name(o.warmup_user), wrong_code(o.warmup_user, 0));

    char go = 0;
    (void)::read(start_fd, &go, 1);  // returns at EOF, when every worker is ready

    WorkerOutput output;
    const long total = replays.empty() ? o.transactions : static_cast<long>(replays.size());
    for (long j = worker; j < total; j += o.procs) {
        const long index = replays.empty() ? o.first + j % o.users : replays[j].first;
        const std::string user = fsbench::user_name(index);
        std::string answer = replays.empty() ? answer_for(o, index) : replays[j].second;
        if (o.mode == Mode::Replay && replays.empty() && !is_success(transaction(o, user, answer)))
            ++output.setup_failures;

        const auto start = Clock::now();
        const int result = transaction(o, user, answer);
        const auto elapsed = Clock::now() - start;
        output.samples.push_back(
            {result, static_cast<std::uint64_t>(
                         std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count())});
        if (recorded && o.mode == Mode::Right && is_success(result))
            std::fprintf(recorded, "%ld %s\n", index, answer.c_str());
    }
    return output;
}

double percentile(const std::vector<std::uint64_t>& sorted, double fraction)
{
    if (sorted.empty())
        return 0;
    const auto at = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1));
    return static_cast<double>(sorted[at]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv)
{
    Options o;
    if (!parse(argc, argv, o))
        return 2;
    const auto replays = o.replay_from.empty() ? std::vector<std::pair<long, std::string>>{}
                                               : read_recorded(o.replay_from);

    int start_pipe[2];
    if (::pipe2(start_pipe, O_CLOEXEC) < 0) {
        std::perror("pam-bench: pipe2");
        return 2;
    }
    std::vector<FILE*> outputs;
    std::vector<FILE*> records;
    std::vector<pid_t> children;
    for (int worker = 0; worker < o.procs; ++worker) {
        FILE* out = std::tmpfile();
        FILE* recorded = o.record.empty() ? nullptr : std::tmpfile();
        std::fflush(nullptr);
        const pid_t child = ::fork();
        if (child < 0) {
            std::perror("pam-bench: fork");
            return 2;
        }
        if (child == 0) {
            ::close(start_pipe[1]);
            write_samples(out, run_worker(o, worker, start_pipe[0], recorded, replays));
            const bool flushed = std::fflush(out) == 0 && (!recorded || std::fflush(recorded) == 0);
            _exit(flushed ? 0 : 1);
        }
        outputs.push_back(out);
        records.push_back(recorded);
        children.push_back(child);
    }
    ::close(start_pipe[0]);
    // The workers have warmed up when they wait on the pipe; give them a moment to get there.
    ::usleep(o.warmup_user >= 0 ? 300000 : 20000);
    const auto start = Clock::now();
    ::close(start_pipe[1]);
    bool workers_ok = true;
    for (const pid_t child : children) {
        int status = 0;
        ::waitpid(child, &status, 0);
        workers_ok = workers_ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();

    std::map<std::string, long> results;
    std::vector<std::uint64_t> latencies;
    long setup_failures = 0;
    long successes = 0;
    for (FILE* out : outputs) {
        std::rewind(out);
        long failed = 0;
        if (std::fscanf(out, "%ld", &failed) == 1)
            setup_failures += failed;
        int result = 0;
        unsigned long long nanoseconds = 0;
        while (std::fscanf(out, "%d %llu", &result, &nanoseconds) == 2) {
            ++results[result_name(result)];
            successes += is_success(result) ? 1 : 0;
            latencies.push_back(nanoseconds);
        }
        std::fclose(out);
    }
    if (!o.record.empty()) {
        FILE* all = std::fopen(o.record.c_str(), "we");
        for (FILE* recorded : records) {
            std::rewind(recorded);
            char line[128];
            while (all && std::fgets(line, sizeof(line), recorded))
                std::fputs(line, all);
            std::fclose(recorded);
        }
        if (all)
            std::fclose(all);
    }

    std::sort(latencies.begin(), latencies.end());
    const long count = static_cast<long>(latencies.size());
    double sum = 0;
    for (const auto value : latencies)
        sum += static_cast<double>(value) / 1000.0;
    const std::string target = o.direct_socket.empty() ? o.service : "direct";

    std::printf("result target=%s mode=%s procs=%d tx=%ld seconds=%.3f tps=%.1f mean_us=%.1f "
                "p50_us=%.1f p99_us=%.1f success=%ld setup_failures=%ld",
                target.c_str(), replays.empty() ? mode_name(o.mode) : "replay-recorded", o.procs,
                count, seconds, seconds > 0 ? static_cast<double>(count) / seconds : 0.0,
                count ? sum / static_cast<double>(count) : 0.0, percentile(latencies, 0.5),
                percentile(latencies, 0.99), successes, setup_failures);
    for (const auto& [name, n] : results)
        std::printf(" %s=%ld", name.c_str(), n);
    std::printf("\n");

    if (!workers_ok) {
        std::fprintf(stderr, "pam-bench: a worker process failed\n");
        return 2;
    }
    const bool all_as_expected =
        setup_failures == 0 && (o.expect == "success" ? successes == count : successes == 0);
    const bool as_expected = o.expect.empty() || all_as_expected;
    return as_expected ? 0 : 1;
}
