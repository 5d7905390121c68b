#include "sessions.hpp"

#include "log.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace fotoauthd {

namespace {

std::int64_t monotonic_ms()
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::optional<std::uint32_t> read_id(const std::string& path)
{
    std::ifstream file(path);
    std::string text;
    if (!(file >> text))
        return std::nullopt;
    std::uint32_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

int pidfd_open(pid_t pid)
{
    return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

int pidfd_send_signal(int pidfd, int signal)
{
    return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

bool has_exited(int pidfd)
{
    pollfd pfd{pidfd, POLLIN, 0};
    return poll(&pfd, 1, 0) > 0;
}

struct ProcessIds {
    std::uint32_t loginuid = kUnsetAuditId;
    std::uint32_t session = kUnsetAuditId;
};

// A process that has exited but was not reaped yet: nothing left to end.
bool is_zombie(const std::string& proc, pid_t pid)
{
    std::ifstream file(proc + "/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(file, stat);
    const auto name_end = stat.rfind(')');
    return name_end == std::string::npos || name_end + 2 >= stat.size() ||
           stat[name_end + 2] == 'Z' || stat[name_end + 2] == 'X';
}

std::optional<ProcessIds> ids_of(const std::string& proc, pid_t pid)
{
    const std::string base = proc + "/" + std::to_string(pid) + "/";
    const auto loginuid = read_id(base + "loginuid");
    const auto session = read_id(base + "sessionid");
    if (!loginuid || !session)
        return std::nullopt;
    return ProcessIds{*loginuid, *session};
}

}  // namespace

std::optional<std::uint32_t> audit_session_of(pid_t pid)
{
    const auto session = read_id("/proc/" + std::to_string(pid) + "/sessionid");
    if (!session || *session == kUnsetAuditId)
        return std::nullopt;
    return session;
}

std::optional<uid_t> real_uid_of(pid_t pid)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Uid:", 0) != 0)
            continue;
        std::istringstream fields(line.substr(4));
        uid_t real = 0;
        if (fields >> real)
            return real;
        return std::nullopt;
    }
    return std::nullopt;
}

ProcfsSessionEnder::ProcfsSessionEnder(std::string proc) : proc_(std::move(proc)) {}

ProcfsSessionEnder::~ProcfsSessionEnder()
{
    for (auto& pending : pending_)
        ::close(pending.pidfd);
}

std::size_t ProcfsSessionEnder::end_sessions(const EndSessionsRequest& request)
{
    std::optional<std::uint32_t> kept;
    if (request.keep_callers_session) {
        const auto caller = ids_of(proc_, request.caller_pid);
        if (caller && caller->session != kUnsetAuditId)
            kept = caller->session;
    }

    DIR* directory = opendir(proc_.c_str());
    if (!directory) {
        log::error("Cannot list processes to end sessions",
                   {{"ERROR", std::strerror(errno)}, {"UID", std::to_string(request.uid)}});
        return 0;
    }
    std::set<std::uint32_t> ended;
    while (const dirent* entry = readdir(directory)) {
        pid_t pid = 0;
        const std::string_view name = entry->d_name;
        const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), pid);
        if (error != std::errc() || end != name.data() + name.size() || pid <= 1 || pid == getpid())
            continue;

        const auto matches = [&](const std::optional<ProcessIds>& ids) {
            return ids && ids->loginuid == request.uid && ids->session != kUnsetAuditId &&
                   (!kept || ids->session != *kept);
        };
        if (!matches(ids_of(proc_, pid)) || is_zombie(proc_, pid))
            continue;

        // Pin the process first, then check again: if the PID was reused in between, the
        // check sees the newcomer; if the process died after it, the signal finds nobody.
        const int pidfd = pidfd_open(pid);
        if (pidfd < 0)
            continue;
        const auto ids = ids_of(proc_, pid);
        if (!matches(ids) || pidfd_send_signal(pidfd, SIGTERM) < 0) {
            ::close(pidfd);
            continue;
        }
        ended.insert(ids->session);
        // Each waiting process holds a descriptor; past the cap, no grace time is given.
        if (pending_.size() >= kMaxPending) {
            (void)pidfd_send_signal(pidfd, SIGKILL);
            ::close(pidfd);
            continue;
        }
        pending_.push_back({pidfd, monotonic_ms() + kGraceMs});
    }
    closedir(directory);
    return ended.size();
}

void ProcfsSessionEnder::tick(std::int64_t now_ms)
{
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (has_exited(it->pidfd)) {
            ::close(it->pidfd);
            it = pending_.erase(it);
            continue;
        }
        if (it->kill_at_ms > now_ms) {
            ++it;
            continue;
        }
        (void)pidfd_send_signal(it->pidfd, SIGKILL);
        ::close(it->pidfd);
        it = pending_.erase(it);
    }
}

namespace {

struct BusDeleter {
    void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
struct MessageDeleter {
    void operator()(sd_bus_message* message) const { sd_bus_message_unref(message); }
};
using Bus = std::unique_ptr<sd_bus, BusDeleter>;
using BusMessage = std::unique_ptr<sd_bus_message, MessageDeleter>;

constexpr const char* kLogind = "org.freedesktop.login1";
constexpr const char* kManagerPath = "/org/freedesktop/login1";
constexpr const char* kManager = "org.freedesktop.login1.Manager";

// The daemon answers every login from one thread: a slow logind must not hold them all.
constexpr std::uint64_t kBusCallTimeoutUsec = 2'000'000;

Bus open_system_bus()
{
    sd_bus* bus = nullptr;
    if (sd_bus_open_system(&bus) < 0)
        return nullptr;
    (void)sd_bus_set_method_call_timeout(bus, kBusCallTimeoutUsec);
    return Bus(bus);
}

// The object path of the session `pid` belongs to, when logind knows one.
std::optional<std::string> session_path_of(sd_bus* bus, pid_t pid)
{
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message* raw = nullptr;
    const int rc = sd_bus_call_method(bus, kLogind, kManagerPath, kManager, "GetSessionByPID",
                                      &error, &raw, "u", static_cast<std::uint32_t>(pid));
    sd_bus_error_free(&error);
    if (rc < 0)
        return std::nullopt;
    BusMessage reply(raw);
    const char* path = nullptr;
    if (sd_bus_message_read(reply.get(), "o", &path) < 0 || !path)
        return std::nullopt;
    return std::string(path);
}

}  // namespace

bool logind_is_running()
{
    Bus bus = open_system_bus();
    if (!bus)
        return false;
    return sd_bus_get_name_creds(bus.get(), kLogind, 0, nullptr) >= 0;
}

std::size_t LogindSessionEnder::end_sessions(const EndSessionsRequest& request)
{
    Bus bus = open_system_bus();
    if (!bus) {
        log::error("Cannot reach the system bus to end sessions",
                   {{"UID", std::to_string(request.uid)}});
        return 0;
    }
    std::optional<std::string> kept;
    if (request.keep_callers_session) {
        kept = session_path_of(bus.get(), request.caller_pid);
        if (!kept)
            log::info("The password was changed outside any logind session: every session of "
                      "the user ends",
                      {{"UID", std::to_string(request.uid)},
                       {"PEER_PID", std::to_string(request.caller_pid)}});
    }

    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message* raw = nullptr;
    if (sd_bus_call_method(bus.get(), kLogind, kManagerPath, kManager, "ListSessions", &error, &raw,
                           "") < 0) {
        log::error("logind did not list the sessions",
                   {{"ERROR", error.message ? error.message : "unknown"},
                    {"UID", std::to_string(request.uid)}});
        sd_bus_error_free(&error);
        return 0;
    }
    BusMessage reply(raw);

    std::vector<std::string> doomed;
    if (sd_bus_message_enter_container(reply.get(), SD_BUS_TYPE_ARRAY, "(susso)") >= 0) {
        const char *id = nullptr, *user = nullptr, *seat = nullptr, *path = nullptr;
        std::uint32_t uid = 0;
        while (sd_bus_message_read(reply.get(), "(susso)", &id, &uid, &user, &seat, &path) > 0) {
            if (uid == request.uid && (!kept || *kept != path))
                doomed.emplace_back(id);
        }
    }

    std::size_t ended = 0;
    for (const auto& id : doomed) {
        sd_bus_error terminate_error = SD_BUS_ERROR_NULL;
        if (sd_bus_call_method(bus.get(), kLogind, kManagerPath, kManager, "TerminateSession",
                               &terminate_error, nullptr, "s", id.c_str()) >= 0)
            ++ended;
        else
            log::warning(
                "logind did not end a session, ignoring",
                {{"SESSION", id},
                 {"ERROR", terminate_error.message ? terminate_error.message : "unknown"}});
        sd_bus_error_free(&terminate_error);
    }
    return ended;
}

namespace {

// Asks at every password change whether logind runs, since it may start or stop after us.
class AutoSessionEnder final : public SessionEnder {
public:
    std::size_t end_sessions(const EndSessionsRequest& request) override
    {
        if (logind_is_running()) {
            last_ = logind_.name();
            return logind_.end_sessions(request);
        }
        last_ = procfs_.name();
        return procfs_.end_sessions(request);
    }
    void tick(std::int64_t now_ms) override { procfs_.tick(now_ms); }
    const char* name() const override { return last_; }

private:
    LogindSessionEnder logind_;
    ProcfsSessionEnder procfs_;
    const char* last_ = logind_is_running() ? "logind" : "procfs";
};

}  // namespace

std::unique_ptr<SessionEnder> make_session_ender(const Config& config)
{
    if (config.session_manager == "logind")
        return std::make_unique<LogindSessionEnder>();
    if (config.session_manager == "procfs")
        return std::make_unique<ProcfsSessionEnder>();
    return std::make_unique<AutoSessionEnder>();
}

}  // namespace fotoauthd
