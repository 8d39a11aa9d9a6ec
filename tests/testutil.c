int rg_testutil_dummy;
