// HTTP/1.1 on the wire, as the server speaks it: a request head parsed strictly, a response
// serialized with its headers checked, and both read and written on a non-blocking socket within
// deadlines. No sockets are opened or accepted here (http_server.h does that).
#ifndef PROFD_DAEMON_SERVICE_HTTP_MESSAGE_H
#define PROFD_DAEMON_SERVICE_HTTP_MESSAGE_H

#include <sys/socket.h>  // ucred

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace profd {

struct HttpRequest {
  std::string method;                          // "GET" or "HEAD": no other method reaches a handler
  std::string target;                          // as sent, e.g. "/debug/pprof/profile?seconds=5"
  std::string path;                            // percent-decoded, e.g. "/debug/pprof/profile"
  std::map<std::string, std::string> query;    // decoded ('+' is a space); first of repeated keys
  std::map<std::string, std::string> headers;  // names in lower case; repeats joined with ", "
  // "127.0.0.1:51234 (uid 1000)", or "unix:pid=1234,uid=1000", for logs
  std::string remote_address;
  // Who connected, as the kernel tells it. Over a Unix socket the connecting process's pid, uid
  // and gid (SO_PEERCRED, as of connect); over TCP the uid owning the client's socket when it is
  // on this host (TcpPeerUid), with pid 0 and gid -1. nullopt when that cannot be told.
  std::optional<ucred> peer;
  // The request carried the server's bearer token: whoever sent it acts as root.
  bool token_authenticated = false;
  // Sends an informational (1xx) response ahead of the final one (102 once a launched command's
  // collectors are attached); false when it could not be sent. Set by the server.
  std::function<bool(int status, const std::vector<std::pair<std::string, std::string>>& headers)>
      send_informational;
};

struct HttpResponse {
  int status = 200;
  // The server adds Content-Length, Connection and Date itself (and drops any given here).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// "Not Found" for 404; "" for a code without a standard reason phrase.
const char* HttpStatusText(int status);

// Parses a request head (request line and headers, CRLF line ends, through the blank line). On
// failure `status` is the code to answer (400, or 505 for another HTTP version) and `error` says
// why. Any method token parses; the server answers 405 to all but GET and HEAD.
bool ParseHttpRequestHead(std::string_view head, HttpRequest* request, int* status,
                          std::string* error);

// Decodes %XX escapes (and '+' as a space when `plus_is_space`); false on a malformed escape.
bool PercentDecode(std::string_view text, bool plus_is_space, std::string* out);

// A text/plain response of `message` and a newline.
HttpResponse TextResponse(int status, const std::string& message);

// The status line and headers (with Content-Length, Date and Connection: close), or "" with
// `valid` false when the status or a header is not one HTTP allows: a header holding CR or LF
// would let a client inject headers of its own (a file name from the query, say).
std::string SerializeResponseHead(const HttpResponse& response, bool* valid);

// The token of an "Authorization: Bearer <token>" header; "" when there is none.
std::string_view BearerToken(const HttpRequest& request);

// Milliseconds from now until `deadline` (0 when past), as poll(2) takes them.
int RemainingMs(std::chrono::steady_clock::time_point deadline);

// Sends the response (its head only with `head_only`), waiting at most `timeout` for each bit of
// progress; a response that does not serialize is answered 500.
void SendResponse(int fd, const HttpResponse& response, bool head_only,
                  std::chrono::milliseconds timeout);

// Sends an informational (1xx) response: its status line and headers, without a body, ahead of
// the final response. False when `status` is no 1xx, a header is not one HTTP allows, or the
// client does not take it within `timeout`.
bool SendInformational(int fd, int status,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       std::chrono::milliseconds timeout);

enum class HeadResult { kComplete, kClosed, kTimeout, kTooLarge, kBareLf };

// Reads until the blank line that ends the head, at most `max_bytes`. Bytes after it (a body) are
// left unread.
HeadResult ReadHead(int fd, size_t max_bytes, std::chrono::steady_clock::time_point deadline,
                    std::string* head);

// Half-closes and waits briefly for the client to close, discarding what it still sends: closing
// with unread input would reset the connection, and the client could lose the response.
void LingeringClose(int fd);

}  // namespace profd

#endif  // PROFD_DAEMON_SERVICE_HTTP_MESSAGE_H
