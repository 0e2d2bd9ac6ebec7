# Independent programming of SAP 4.8: Kaplan-Meier at day 45 (log-log CI), log-rank test, Cox model
# (Efron ties) with arm and the site indicator.
# Input: CSV with columns time, event (1 death), arm (1 CYT107, 0 placebo), site_dummy (0/1).
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
horizon <- as.numeric(args[2])
km <- survfit(Surv(time, event) ~ arm, data = d, conf.type = "log-log")
s <- summary(km, times = horizon, extend = TRUE)
arm_of <- as.integer(sub("arm=", "", as.character(s$strata)))
lr <- survdiff(Surv(time, event) ~ arm, data = d)
p_lr <- pchisq(lr$chisq, df = 1, lower.tail = FALSE)
cox <- coxph(Surv(time, event) ~ arm + site_dummy, data = d, ties = "efron",
             control = coxph.control(eps = 1e-12, iter.max = 100))
b <- coef(cox)[["arm"]]
se <- sqrt(vcov(cox)["arm", "arm"])
cat(sprintf(paste0(
  '{"survival_cyt107": %.17g, "survival_cyt107_lower": %.17g, "survival_cyt107_upper": %.17g, ',
  '"survival_placebo": %.17g, "survival_placebo_lower": %.17g, "survival_placebo_upper": %.17g, ',
  '"logrank_p": %.17g, "hr": %.17g, "hr_lower": %.17g, "hr_upper": %.17g, "hr_p": %.17g}\n'),
  s$surv[arm_of == 1], s$lower[arm_of == 1], s$upper[arm_of == 1],
  s$surv[arm_of == 0], s$lower[arm_of == 0], s$upper[arm_of == 0],
  p_lr, exp(b), exp(b - qnorm(0.975) * se), exp(b + qnorm(0.975) * se), 2 * pnorm(-abs(b / se))))
