// Router::check_access: who may use which kind of route, anonymous callers
// included (a server with no key serves this machine only, never as admin).
#include "serve/router.h"

#include <gtest/gtest.h>

namespace flywheel::serve {
namespace {

Caller anonymous() { return Caller{}; }
Caller key(bool admin) { return Caller{"acme", "key_1", admin, 0, 0, true}; }

TEST(CheckAccess, AnonymousCallersAreLocalAndNeverAdmin) {
  for (const char* local : {"127.0.0.1", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(check_access(Access::kUser, anonymous(), true, local).ok()) << local;
    EXPECT_EQ(check_access(Access::kAdmin, anonymous(), true, local).code(), StatusCode::kPermissionDenied) << local;
  }
  for (const char* remote : {"10.0.0.7", "192.168.1.20", "2001:db8::1", ""}) {
    EXPECT_EQ(check_access(Access::kUser, anonymous(), true, remote).code(), StatusCode::kUnauthenticated) << remote;
    EXPECT_EQ(check_access(Access::kAdmin, anonymous(), true, remote).code(), StatusCode::kUnauthenticated) << remote;
    EXPECT_TRUE(check_access(Access::kPublic, anonymous(), true, remote).ok()) << remote;
    // --auth off: served, still not admin.
    EXPECT_TRUE(check_access(Access::kUser, anonymous(), false, remote).ok()) << remote;
    EXPECT_EQ(check_access(Access::kAdmin, anonymous(), false, remote).code(), StatusCode::kPermissionDenied);
  }
}

TEST(CheckAccess, KeysFromAnywhere) {
  EXPECT_TRUE(check_access(Access::kUser, key(false), true, "10.0.0.7").ok());
  EXPECT_EQ(check_access(Access::kAdmin, key(false), true, "10.0.0.7").code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(check_access(Access::kAdmin, key(true), true, "10.0.0.7").ok());
}

}  // namespace
}  // namespace flywheel::serve
