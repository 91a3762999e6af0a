/*
 * openwfp/winsock.h - proxy-side socket controls (SPEC S9).
 *
 * Two spellings of the same three controls, for the process a connection was redirected to
 * (the local proxy) and for a proxy's outbound socket:
 *
 *   SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS  (S9.1)  sealed records of an accepted connection
 *   SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT  (S9.2)  copy of the context the callout set
 *   SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS    (S9.4)  attach records to a socket before connect
 *
 * 1. Linux style: openwfp_ioctl(fd, code, in, in_len, out, out_len, &returned) -> 0, or -1 with
 *    errno set.
 * 2. Winsock style: WSAIoctl(...) over SOCKET = int -> 0, or SOCKET_ERROR with the code in
 *    WSAGetLastError(). A Windows proxy ports with few changes.
 *
 * Both work on simulated sockets (openwfp/sim.h; the "caller" is the sim process owning the fd)
 * and on any other socket a registered backend owns (src/winsock/socket_backend.h).
 *
 * Error mapping (errno -> WSAGetLastError()):
 *   size probe / buffer too small   ENOBUFS    -> ERROR_INSUFFICIENT_BUFFER (122); the required
 *                                                  size is in *returned / *lpcbBytesReturned
 *   not redirected / no context     ENOENT     -> FWP_E_NOT_FOUND (0x80320008 as an int, i.e.
 *                                                  OPENWFP_WSA_NOT_FOUND; openwfp choice: Windows
 *                                                  documents no Winsock code for this case)
 *   listening or unconnected        ENOTCONN   -> WSAENOTCONN
 *   caller is not the target PID    EACCES     -> WSAEACCES        (S12.1)
 *   SET of records issued to        EACCES     -> WSAEACCES        (S14.9: the caller is not
 *   another process                                                  their newest target PID)
 *   not a socket / unknown fd       ENOTSOCK   -> WSAENOTSOCK      (EBADF also maps here)
 *   SET on a connected socket       EISCONN    -> WSAEISCONN
 *   bad records blob / out buffer   EINVAL     -> WSAEINVAL
 *   bad pointer (in_len > 0, NULL)  EFAULT     -> WSAEFAULT
 *   unknown control code            EOPNOTSUPP -> WSAEOPNOTSUPP
 *   history too long to seal        EMSGSIZE   -> WSAEMSGSIZE
 *   out of memory                   ENOMEM     -> WSAENOBUFS
 *   any other errno                            -> WSAEINVAL
 *
 * This header includes no system socket header and none of the WDK headers of
 * include/openwfp/km, so it can be used next to either. Every name it shares with the km
 * headers is guarded with #ifndef. Include order: when a translation unit also includes the km
 * header mstcpip.h, include that one first (it defines the SIO codes unconditionally; the values
 * are the same).
 *
 * C11 and C++ compatible.
 */
#ifndef OPENWFP_WINSOCK_H
#define OPENWFP_WINSOCK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Control codes: the Windows SDK values (mstcpip.h, _WSAIOW(IOC_VENDOR, 220..222)). ---- */
#ifndef SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS
#define SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS 0x980000DCu
#endif
#ifndef SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT
#define SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT 0x980000DDu
#endif
#ifndef SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS
#define SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS 0x980000DEu
#endif

/* openwfp extension, not in the SDK: SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS, and an offer to
 * hand this socket to the application once the proxy reported the connection verified (the
 * redirected connect completed PERMIT). The application's socket is then replaced by this one
 * (its descriptor number, O_NONBLOCK, FD_CLOEXEC and the common socket options kept) and no
 * relay runs; the proxy closes its copy once the offer is taken. Same input and errors as
 * SIO_SET, except that a connected socket is accepted too (then only the offer is made: for a
 * proxy whose connects nobody classifies); EOPNOTSUPP where sockets cannot be handed over
 * (simulated stack, no supervisor). Opt-in: `openwfp proxy --hand-off`; see
 * docs/performance.md, "Hand-off". */
#ifndef SIO_OPENWFP_HAND_OFF_WITH_RECORDS
#define SIO_OPENWFP_HAND_OFF_WITH_RECORDS 0x980007F0u /* _WSAIOW(IOC_VENDOR, 2032) */
#endif

/* ---- Linux style ------------------------------------------------------------------------- */

/* Runs control `code` on socket `fd`. `in`/`in_len` is the input buffer (SIO_SET: the records
 * blob), `out`/`out_len` the output buffer (queries; must be 0 for SIO_SET), `returned` (may be
 * NULL) receives the bytes written, or the size needed when the call fails with ENOBUFS.
 * Returns 0, or -1 with errno set (see the table above). Thread-safe. */
int openwfp_ioctl(int fd, unsigned code, const void* in, size_t in_len, void* out, size_t out_len,
                  size_t* returned);

/* ---- Winsock shim ------------------------------------------------------------------------ */

/* Same types as include/openwfp/km/openwfp_km_base.h (repeating an identical typedef is
 * allowed in C11 and C++). */
typedef uint32_t DWORD;
typedef void* LPVOID;
typedef DWORD* LPDWORD;
typedef int SOCKET; /* openwfp choice: a file descriptor */

/* Overlapped I/O is not supported; the type exists so that Windows call sites compile. */
typedef struct _WSAOVERLAPPED WSAOVERLAPPED;
typedef struct _WSAOVERLAPPED* LPWSAOVERLAPPED;
typedef void (*LPWSAOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwError, DWORD cbTransferred,
                                                  LPWSAOVERLAPPED lpOverlapped, DWORD dwFlags);

#ifndef INVALID_SOCKET
#define INVALID_SOCKET (-1)
#endif
#ifndef SOCKET_ERROR
#define SOCKET_ERROR (-1)
#endif

#ifndef WSAEACCES
#define WSAEACCES 10013
#endif
#ifndef WSAEFAULT
#define WSAEFAULT 10014
#endif
#ifndef WSAEINVAL
#define WSAEINVAL 10022
#endif
#ifndef WSAENOTSOCK
#define WSAENOTSOCK 10038
#endif
#ifndef WSAEMSGSIZE
#define WSAEMSGSIZE 10040
#endif
#ifndef WSAEOPNOTSUPP
#define WSAEOPNOTSUPP 10045
#endif
#ifndef WSAENOBUFS
#define WSAENOBUFS 10055
#endif
#ifndef WSAEISCONN
#define WSAEISCONN 10056
#endif
#ifndef WSAENOTCONN
#define WSAENOTCONN 10057
#endif
#ifndef ERROR_INSUFFICIENT_BUFFER
#define ERROR_INSUFFICIENT_BUFFER 122L
#endif
/* What WSAGetLastError() returns for "not redirected" / "no context": the value of
 * FWP_E_NOT_FOUND (0x80320008) as a 32-bit signed int, so `WSAGetLastError() == FWP_E_NOT_FOUND`
 * holds when the km header winerror.h is included too. */
#define OPENWFP_WSA_NOT_FOUND (-2144206840) /* (int)0x80320008 */

/* Runs control dwIoControlCode on socket s, synchronously. lpcbBytesReturned must not be NULL
 * (WSAEFAULT). lpOverlapped is ignored (the call always completes before returning); a
 * completion routine is not supported (WSAEOPNOTSUPP). Returns 0 or SOCKET_ERROR. */
int WSAIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer,
             LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
             LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);

/* The calling thread's last Winsock error (set by a failing WSAIoctl). */
int WSAGetLastError(void);
void WSASetLastError(int iError);

#ifdef __cplusplus
}
#endif

#endif /* OPENWFP_WINSOCK_H */
