/* redis_fixture.h - moved to tests/common/redis_fixture.h (the test kit); this
 * thin include keeps the old path working for tests not yet converted. */
#include "../common/redis_fixture.h"
