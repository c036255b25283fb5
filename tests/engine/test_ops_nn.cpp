#include "engine/op_test.h"
