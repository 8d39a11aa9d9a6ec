int rg_dummy;
