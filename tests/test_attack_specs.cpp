// Attack specs: parsing, defaults from the command line's flags, round trips, and one-line errors.
#include "tests/catch_torch.h"  // first: see the header
#include "attacks/attack.h"
#include "common/error.h"

using namespace questbench;

TEST_CASE("attack specs round-trip through their canonical text", "[attacks][spec]") {
  for (const std::string text : {"fgsm", "pgd", "pgd-l2", "pgd:steps=20,alpha=1/255,restarts=3", "pgd:random_start=0,loss=margin",
                                 "pgd-l2:rel_alpha=0.1,early_stop=0", "fgsm:loss=margin"}) {
    const auto attack = make_attack(text);
    const auto again = make_attack(attack->spec());
    INFO(text << " -> " << attack->spec());
    CHECK(again->spec() == attack->spec());
    CHECK(parse_attack_spec(attack->spec()).name == parse_attack_spec(text).name);
  }
  CHECK(make_attack("pgd")->spec() == "pgd:steps=10,alpha=2/255,restarts=1,random_start=1,loss=ce,early_stop=1");
  CHECK(make_attack("fgsm")->spec() == "fgsm:loss=ce,early_stop=1");
  CHECK(make_attack("pgd-l2")->spec() == "pgd-l2:steps=10,rel_alpha=0.2,restarts=1,random_start=1,loss=ce,early_stop=1");
}

TEST_CASE("spec options override the defaults, the defaults fill the rest", "[attacks][spec]") {
  AttackDefaults d;
  d.steps = 7;
  d.alpha_linf = parse_fraction("3/255", "--alpha", 1.0);
  const auto pgd = make_attack("pgd:steps=12", d);
  const auto s = pgd->settings(8.0 / 255);
  CHECK(s.steps == 12);
  CHECK(s.alpha == 3.0 / 255);
  CHECK(make_attack("fgsm", d)->settings(0.25).alpha == 0.25);  // a single step covers the radius
  CHECK(make_attack("pgd-l2:rel_alpha=0.5")->settings(2.0).alpha == 1.0);
  CHECK(pgd->with_doubled_iterations()->settings(0.1).steps == 24);
  CHECK(make_attack("fgsm")->with_doubled_iterations() == nullptr);
}

TEST_CASE("capabilities are data in the table", "[attacks][spec]") {
  CHECK_FALSE(find_attack("fgsm").capabilities.iterative);
  CHECK(find_attack("pgd").capabilities.iterative);
  CHECK(find_attack("pgd-l2").capabilities.norm == Norm::L2);
  // The user-targetable family; the AutoAttack attacks (fab-t, apgd-t) choose their own targets (targeted false).
  for (const std::string name : {"fgsm", "pgd", "pgd-l2"}) CHECK(find_attack(name).capabilities.targeted);
}

TEST_CASE("bad specs give one-line errors naming the problem", "[attacks][spec]") {
  CHECK_THROWS_WITH(make_attack("deepfool"), Catch::Contains("fgsm, pgd, pgd-l2"));
  CHECK_THROWS_WITH(make_attack("pgd:stepz=3"), Catch::Contains("unknown option 'stepz'") && Catch::Contains("steps"));
  CHECK_THROWS_WITH(make_attack("pgd:steps=0"), Catch::Contains(">= 1"));
  CHECK_THROWS_WITH(make_attack("pgd:steps=ten"), Catch::Contains("not an integer"));
  CHECK_THROWS_WITH(make_attack("pgd:alpha=2"), Catch::Contains("2/255"));
  CHECK_THROWS_WITH(make_attack("pgd:steps=3,steps=4"), Catch::Contains("twice"));
  CHECK_THROWS_WITH(make_attack("pgd:steps"), Catch::Contains("key=value"));
  CHECK_THROWS_WITH(make_attack("fgsm:steps=3"), Catch::Contains("unknown option 'steps'"));
  CHECK_THROWS_WITH(make_attack("pgd:loss=hinge"), Catch::Contains("ce, margin"));
  CHECK_THROWS_AS(make_attack(":steps=3"), UsageError);
}

TEST_CASE("attack lists split at commas between specs", "[attacks][spec]") {
  CHECK(split_attack_specs("fgsm,pgd") == std::vector<std::string>{"fgsm", "pgd"});
  CHECK(split_attack_specs("fgsm,pgd:steps=20,alpha=1/255,pgd-l2") ==
        std::vector<std::string>{"fgsm", "pgd:steps=20,alpha=1/255", "pgd-l2"});
  CHECK_THROWS_WITH(split_attack_specs("steps=3,pgd"), Catch::Contains("no attack before it"));
  CHECK_THROWS_WITH(split_attack_specs("fgsm,,pgd"), Catch::Contains("empty"));
}
