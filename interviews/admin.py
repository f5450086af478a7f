"""Django admin for reviewers: staff see their organization's interviews, superusers all."""

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import F, QuerySet
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from interviews import admin_review, selectors
from interviews.admin_lifecycle import SoftDeleteMixin
from interviews.engine.plans import LANGUAGES, LEVELS, builtin_plan_data, plan_spec
from interviews.exports.admin import ExportActionForm, export_selected_interviews
from interviews.models import Interview, InterviewPlan, InterviewSource, InterviewStatus
from interviews.permissions import can_review, is_admin, is_admin_reviewer, scope_filter
from interviews.reports.services import interview_report_regenerate
from interviews.services import ALLOWED_TRANSITIONS, interview_plan_save, interview_status_change
from interviews.services.reviews import interview_review_claim, interview_review_create
from interviewsvc.errors import ServiceError
from interviewsvc.forms import json_formfield


class InterviewAdminForm(forms.ModelForm):
    class Meta:
        model = Interview
        fields = ["status"]

    def clean_status(self) -> str:
        new, old = self.cleaned_data["status"], self.instance.status
        if new != old and new not in ALLOWED_TRANSITIONS.get(old, set()):
            raise forms.ValidationError(f"An interview cannot go from {old} to {new}.")
        return new


@admin.register(Interview)
class InterviewAdmin(SoftDeleteMixin, admin.ModelAdmin):
    form = InterviewAdminForm
    # What a reviewer scans for (docs/admin.md, "Reviewing interviews"); every column comes with the page's one
    # query (employee and plan joined, answers a subquery, the score stored on the row).
    list_display = [
        "title",
        "employee_name",
        "status",
        "started_at",
        "duration",
        "questions_answered",
        "score_badge",
        "review_state_shown",
    ]
    list_display_links = ["title"]

    class Media:
        # Score badges and review states, on the list and the interview page (a static file: CSP).
        css = {"all": ["interviews/review.css"]}

    list_filter = [
        "review_state",
        admin_review.ScoreBandFilter,
        "plan",
        "status",
        "language",
        "technical_level",
        "source",
    ]
    date_hierarchy = "started_at"
    search_fields = [
        "=id",
        "=employee__employee_id",
        "employee__username",
        "employee__email",
    ]  # and message text: get_search_results
    search_help_text = "Interview id, employee id, username, email or message text"
    list_select_related = ["employee", "plan"]
    change_form_template = "admin/interviews/interview/change_form.html"
    readonly_fields = [
        "id",
        "employee",
        "organization_id",
        "plan",
        "source_shown",
        "session_id",
        "message_count",
        "question_count",
        "started_at",
        "completed_at",
        "created_at",
        "updated_at",
    ]
    # The transcript, scores, exports, "watch live" and reviews are drawn by the page's template
    # (admin_review.conversation); the engine's state is internal and not shown to people.
    readonly_fields = ["language", "technical_level", "overall_score", "review_state", *readonly_fields]
    fields = ["status", *readonly_fields]
    show_full_result_count = False
    actions = [export_selected_interviews]
    action_form = ExportActionForm

    def get_queryset(self, request) -> QuerySet[Interview]:
        # Applies to the list, change, delete and history views alike.
        scoped = super().get_queryset(request).filter(scope_filter(request.user))
        return scoped.annotate(answers=admin_review.answers_count())

    def get_search_results(self, request, queryset, search_term):
        # Message text goes through the API's search (full text and its indexes on PostgreSQL,
        # interviews/search.py), not an icontains join over every message.
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        text = search_term.strip()
        if text:
            found = found | selectors.interview_search(queryset, text)
        return found, may_have_duplicates

    @admin.display(description="Source")
    def source_shown(self, obj: Interview) -> str:
        if obj.source == InterviewSource.MIGRATED:
            return "Migrated — turns imported from another system"
        return obj.get_source_display()

    @admin.display(description="Employee", ordering="employee__username")
    def employee_name(self, obj: Interview) -> str:
        return obj.employee.username

    @admin.display(description="Duration", ordering=F("completed_at") - F("started_at"))
    def duration(self, obj: Interview) -> str:
        return admin_review.duration_text(obj)

    @admin.display(description="Interview", ordering="-started_at")
    def title(self, obj: Interview) -> str:
        return admin_review.interview_title(obj)

    @admin.display(description="Questions answered", ordering="answers")
    def questions_answered(self, obj: Interview) -> int:
        return getattr(obj, "answers", 0)

    @admin.display(description="Overall score", ordering="overall_score")
    def score_badge(self, obj: Interview) -> str:
        if obj.overall_score is None:
            return "—"
        band = admin_review.score_band(obj.overall_score)
        return format_html('<span class="score-badge score-{}">{}</span>', band, obj.overall_score)

    @admin.display(description="Review state", ordering="review_state")
    def review_state_shown(self, obj: Interview) -> str:
        return format_html(
            '<span class="review-state review-{}">{}</span>', obj.review_state, obj.get_review_state_display()
        )

    # --- the interview page: conversation, reviews, the review form -------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            may_review = can_review(request.user, obj)
            extra.update(
                subtitle=admin_review.interview_title(obj),
                interview=obj,
                duration=admin_review.duration_text(obj),
                score_band=admin_review.score_band(obj.overall_score),
                turns=admin_review.conversation(obj),
                export_links=admin_review.export_links(obj),
                watch_url=reverse("pages-watch", args=[obj.id]) if admin_review.is_live(obj) else None,
                may_review=may_review,
                reviews=list(selectors.interview_reviews(interview=obj)) if may_review else [],
                review_form=admin_review.ReviewForm() if may_review else None,
                review_url=reverse("admin:interviews_interview_review", args=[obj.id]),
                report=admin_review.report_view(obj),
                report_expected=obj.status == InterviewStatus.COMPLETED,
                may_regenerate=obj.status == InterviewStatus.COMPLETED and self.has_change_permission(request, obj),
                regenerate_url=reverse("admin:interviews_interview_report_regenerate", args=[obj.id]),
            )
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def get_urls(self):
        review = path(
            "<path:object_id>/review/",
            self.admin_site.admin_view(self.review_view),
            name="interviews_interview_review",
        )
        regenerate = path(
            "<path:object_id>/report/regenerate/",
            self.admin_site.admin_view(self.report_regenerate_view),
            name="interviews_interview_report_regenerate",
        )
        return [review, regenerate, *super().get_urls()]

    def report_regenerate_view(self, request, object_id):
        """POST only (CSRF-checked by ``admin_view``): ask for a new version of the report."""
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404("No such interview.")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            interview_report_regenerate(interview_id=obj.id, actor=request.user)
        except ServiceError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
        else:
            self.message_user(request, "A new version of the report is being made.", level=messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:interviews_interview_change", args=[obj.id]) + "#report")

    def review_view(self, request, object_id):
        """POST only: claim the interview ("Start review") or record a review; back to its page."""
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404("No such interview.")
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        back = HttpResponseRedirect(reverse("admin:interviews_interview_change", args=[obj.id]))
        try:
            if request.POST.get("action") == "claim":
                interview_review_claim(interview_id=obj.id, reviewer=request.user)
                self.message_user(request, "You are reviewing this interview.", level=messages.SUCCESS)
                return back
            form = admin_review.ReviewForm(request.POST)
            if not form.is_valid():
                problems = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
                self.message_user(request, f"The review was not saved. {problems}", level=messages.ERROR)
                return back
            interview_review_create(interview_id=obj.id, reviewer=request.user, **form.cleaned_data)
        except ServiceError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return back
        self.message_user(request, "Review recorded.", level=messages.SUCCESS)
        return back

    # Application roles, not Django model permissions, decide who reviews: staff read, admins
    # also change status and (soft-)delete (SoftDeleteMixin). Objects are already scoped above.
    def has_module_permission(self, request) -> bool:
        return is_admin_reviewer(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return is_admin_reviewer(request.user)

    def has_change_permission(self, request, obj=None) -> bool:
        return is_admin(request.user)

    def has_add_permission(self, request) -> bool:
        # Interviews are created by the interviewer, never by hand.
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Status changes go through the service: transitions are checked and open sockets
        # hear about it. No other field is editable here.
        if "status" in form.changed_data:
            try:
                interview_status_change(interview_id=obj.id, status=obj.status, actor=request.user)
            except ServiceError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)


@admin.register(InterviewPlan)
class InterviewPlanAdmin(admin.ModelAdmin):
    """Interview plans for the scripted interviewer (format: docs/engine.md).

    Plans are global, not per organization, so Django model permissions decide who edits them
    (superusers, or users granted ``interviews.*_interviewplan``). A plan used by interviews
    cannot be deleted; deactivate it instead.
    """

    list_display = ["name", "slug", "is_default", "is_active", "topic_count", "updated_at"]
    list_filter = ["is_active", "is_default"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["preview", "created_at", "updated_at"]
    fields = [
        "name",
        "slug",
        "description",
        "is_active",
        "is_default",
        "topics",
        "follow_up",
        "closing",
        "preview",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="Topics")
    def topic_count(self, obj: InterviewPlan) -> int:
        return len(obj.topics) if isinstance(obj.topics, list) else 0

    @admin.display(description="Questions as asked")
    def preview(self, obj: InterviewPlan) -> str:
        if obj.pk is None:
            return "Save the plan to preview its questions."
        spec = plan_spec(obj)
        if spec.slug is None:
            return "The plan is invalid; the built-in plan is used until it is fixed."
        header = format_html_join("", "<th>{} / {}</th>", ((lang, level) for lang in LANGUAGES for level in LEVELS))
        rows = format_html_join(
            "",
            "<tr><td>{}</td>{}</tr>",
            (
                (
                    i + 1,
                    format_html_join(
                        "",
                        "<td>{}</td>",
                        ((spec.question(i, lang, level),) for lang in LANGUAGES for level in LEVELS),
                    ),
                )
                for i in range(spec.total)
            ),
        )
        return format_html("<table><tr><th>#</th>{}</tr>{}</table>", header, rows)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # Empty follow_up/closing store {} ("the built-in one"), not NULL; deep JSON is refused.
        if isinstance(db_field, models.JSONField):
            return json_formfield(db_field, **kwargs)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request) -> dict:
        # A new plan starts from the built-in one's first topic and messages, as an example.
        builtin = builtin_plan_data()
        return {
            **super().get_changeform_initial_data(request),
            "topics": builtin["topics"][:1],
            "follow_up": builtin["follow_up"],
            "closing": builtin["closing"],
        }

    def save_model(self, request, obj, form, change) -> None:
        interview_plan_save(plan=obj)
