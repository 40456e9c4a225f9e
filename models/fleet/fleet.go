// Package fleet holds the end-to-end measurements of the models stage on a
// simulated fleet (simulate → extract → label → train → policy on the test
// split against the simulator's truth) and the benchmark of the GBDT against
// XGBoost on simulated fleet features. It lives apart from package models so
// that models' own tests do not depend on the other stages.
package fleet
