// Replaced by the reference worker implementation.
return 0;
