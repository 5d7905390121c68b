// Floods fotoauthd with Preauth requests from many distinct source addresses, the way a
// distributed password-guessing attack reaches the daemon, and reports how many attempts per
// second the rate limiter decides and how it answered them.
//
//   preauth-flood --socket PATH [--requests N] [--sources K] [--workers W] [--fresh]
//
// Each worker is a process with its own connection (or a new connection per request with
// --fresh, as the PAM module does). Sources are 198.51.100.0/24-style documentation addresses
// spread over 2001:db8::/32 /64s when K exceeds what IPv4 documentation ranges hold; they are
// only text inside the requests: no packet goes anywhere.
#include "client.hpp"
#include "protocol.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace proto = fotostudio::protocol;

namespace {

struct Options {
    std::string socket = "/run/fotoauthd/socket";
    long requests = 100000;
    long sources = 100000;
    int workers = 2;
    bool fresh = false;
};

bool parse_long(const char* text, long& out)
{
    const auto end = text + std::strlen(text);
    const auto [ptr, error] = std::from_chars(text, end, out);
    return error == std::errc() && ptr == end && out > 0;
}

bool parse(int argc, char** argv, Options& options)
{
    for (int i = 1; i < argc; ++i) {
        const std::string argument = argv[i];
        long value = 0;
        if (argument == "--fresh") {
            options.fresh = true;
        } else if (i + 1 < argc && argument == "--socket") {
            options.socket = argv[++i];
        } else if (i + 1 < argc && argument == "--requests" && parse_long(argv[++i], value)) {
            options.requests = value;
        } else if (i + 1 < argc && argument == "--sources" && parse_long(argv[++i], value)) {
            options.sources = value;
        } else if (i + 1 < argc && argument == "--workers" && parse_long(argv[++i], value)) {
            options.workers = static_cast<int>(value);
        } else {
            std::fprintf(stderr, "usage: preauth-flood --socket PATH [--requests N] "
                                 "[--sources K] [--workers W] [--fresh]\n");
            return false;
        }
    }
    return true;
}

// The i-th source address: IPv6 /64s of the documentation prefix 2001:db8::/32.
std::string source(long i)
{
    char text[64];
    std::snprintf(text, sizeof(text), "2001:db8:%lx:%lx::1", (i >> 16) & 0xffff, i & 0xffff);
    return text;
}

// Runs one worker's share; writes "status count" lines to `out`.
int run_worker(const Options& options, int worker, FILE* out)
{
    std::map<std::string, long> answers;
    fotostudio::client::Connection connection;
    bool connected = false;
    for (long i = worker; i < options.requests; i += options.workers) {
        // The client's deadline covers a connection's whole life, and the daemon ends any
        // connection after two minutes: open a new one every few thousand requests.
        if (!connected || options.fresh || (i / options.workers) % 5000 == 0) {
            connection = fotostudio::client::Connection();
            const auto opened = connection.open(options.socket, 0, std::chrono::seconds(60));
            if (opened.failure != fotostudio::client::Failure::None) {
                ++answers[std::string("connect-failed")];
                continue;
            }
            connected = true;
        }
        proto::Message request(proto::MessageType::Preauth);
        request.set(proto::Field::User, "flood" + std::to_string(i % 1000));
        request.set(proto::Field::Service, "sshd");
        request.set(proto::Field::RemoteHost, source(i % options.sources));
        const auto outcome = connection.request(request);
        if (!outcome.reply) {
            ++answers[std::string(fotostudio::client::to_string(outcome.failure))];
            connected = false;
            continue;
        }
        ++answers[std::string(proto::to_string(*proto::reply_status(*outcome.reply)))];
    }
    for (const auto& [status, count] : answers) {
        std::string word = status;
        std::replace(word.begin(), word.end(), ' ', '-');
        std::fprintf(out, "%s %ld\n", word.c_str(), count);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv)
{
    Options options;
    if (!parse(argc, argv, options))
        return 2;

    std::vector<FILE*> results;
    std::vector<pid_t> children;
    const auto start = std::chrono::steady_clock::now();
    for (int worker = 0; worker < options.workers; ++worker) {
        FILE* result = std::tmpfile();
        const pid_t child = fork();
        if (child == 0)
            _exit(run_worker(options, worker, result) == 0 && std::fflush(result) == 0 ? 0 : 1);
        results.push_back(result);
        children.push_back(child);
    }
    for (pid_t child : children)
        waitpid(child, nullptr, 0);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::map<std::string, long> answers;
    for (FILE* result : results) {
        std::rewind(result);
        char status[64];
        long count = 0;
        while (std::fscanf(result, "%63s %ld", status, &count) == 2)
            answers[status] += count;
        std::fclose(result);
    }
    std::printf("requests %ld, sources %ld, workers %d, %s connections\n", options.requests,
                options.sources, options.workers, options.fresh ? "fresh" : "kept");
    std::printf("elapsed %.2f s, %.0f attempts/s\n", seconds,
                static_cast<double>(options.requests) / seconds);
    for (const auto& [status, count] : answers)
        std::printf("  %-16s %ld\n", status.c_str(), count);
    return 0;
}
