// Ending a user's login sessions after a password change (docs/password-change.md).
//
// Through systemd-logind when it runs: it knows every session and ends each one cleanly.
// Otherwise (containers, minimal systems) directly, by the kernel's audit session ids: every
// process whose loginuid is the user's and whose audit session is set belongs to one of the
// user's login sessions (pam_loginuid sets both at login, for the per-connection sshd process,
// the shell and everything started from it, ssh -N forwards and sftp included). System services
// have no audit session and are never touched, not even for root.
#pragma once

#include "config.hpp"

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fotoauthd {

// The kernel's "no audit session" value in /proc/PID/sessionid and /proc/PID/loginuid.
inline constexpr std::uint32_t kUnsetAuditId = 4294967295u;

struct EndSessionsRequest {
    uid_t uid = 0;                      // whose sessions end
    pid_t caller_pid = 0;               // the process that changed the password
    bool keep_callers_session = false;  // the user changed their own password
};

class SessionEnder {
public:
    virtual ~SessionEnder() = default;
    // Ends the sessions; returns how many were ended. Logs each failure, never throws.
    virtual std::size_t end_sessions(const EndSessionsRequest& request) = 0;
    // Called about once a second, for work that must wait (a SIGKILL after a SIGTERM).
    virtual void tick(std::int64_t now_ms) { (void)now_ms; }
    virtual const char* name() const = 0;
};

// The audit session of a process, when it has one.
std::optional<std::uint32_t> audit_session_of(pid_t pid);
// The real uid of a process (first field of Uid: in /proc/PID/status).
std::optional<uid_t> real_uid_of(pid_t pid);

class ProcfsSessionEnder final : public SessionEnder {
public:
    // `proc` is the proc file system's mount point ("/proc"); tests may point elsewhere.
    explicit ProcfsSessionEnder(std::string proc = "/proc");
    ~ProcfsSessionEnder() override;
    std::size_t end_sessions(const EndSessionsRequest& request) override;
    void tick(std::int64_t now_ms) override;
    const char* name() const override { return "procfs"; }

    static constexpr std::int64_t kGraceMs = 3000;
    static constexpr std::size_t kMaxPending = 256;

private:
    struct Pending {
        int pidfd = -1;
        std::int64_t kill_at_ms = 0;
    };
    std::string proc_;
    std::vector<Pending> pending_;
};

class LogindSessionEnder final : public SessionEnder {
public:
    std::size_t end_sessions(const EndSessionsRequest& request) override;
    const char* name() const override { return "logind"; }
};

// True when org.freedesktop.login1 has an owner on the system bus.
bool logind_is_running();

// The ender the configuration asks for (`session_manager`), auto-detected by default.
std::unique_ptr<SessionEnder> make_session_ender(const Config& config);

}  // namespace fotoauthd
