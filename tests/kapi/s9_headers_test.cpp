// S9 / S1.3: openwfp/winsock.h next to the WDK-named headers. This translation unit includes the
// km headers (so no Linux socket header), then the proxy header: both define the SIO codes and
// ERROR_INSUFFICIENT_BUFFER with the same values, and the Winsock typedefs agree.
#include <mstcpip.h>
#include <winerror.h>

#include "openwfp/winsock.h"

#include <gtest/gtest.h>

#include <type_traits>

static_assert(SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS == 0x980000DCu);
static_assert(SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT == 0x980000DDu);
static_assert(SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS == 0x980000DEu);
static_assert(std::is_same_v<DWORD, uint32_t>);
static_assert(std::is_same_v<LPDWORD, PDWORD>);

TEST(S9_1, WinsockHeaderAgreesWithTheWdkHeaders) {
  EXPECT_EQ(ERROR_INSUFFICIENT_BUFFER, 122);
  EXPECT_EQ(OPENWFP_WSA_NOT_FOUND, FWP_E_NOT_FOUND);
  EXPECT_EQ(WSAEACCES, 10013);
  EXPECT_EQ(WSAEFAULT, 10014);
  EXPECT_EQ(WSAEINVAL, 10022);
  EXPECT_EQ(WSAENOTSOCK, 10038);
  EXPECT_EQ(WSAEOPNOTSUPP, 10045);
  EXPECT_EQ(WSAEISCONN, 10056);
  EXPECT_EQ(WSAENOTCONN, 10057);
  EXPECT_EQ(SOCKET_ERROR, -1);
  EXPECT_EQ(INVALID_SOCKET, -1);
  // The control codes as a Windows proxy spells them reach openwfp_ioctl unchanged.
  EXPECT_EQ(WSAIoctl(INVALID_SOCKET, SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, nullptr, 0,
                     nullptr, 0, nullptr, nullptr, nullptr),
            SOCKET_ERROR);
  EXPECT_EQ(WSAGetLastError(), WSAEFAULT);
}
