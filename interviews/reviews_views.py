"""REST endpoints for reviews of one interview (docs/api.md, "Reviews"): validate → service → serialize."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from interviews import selectors
from interviews.models import ReviewDecision
from interviews.permissions import Action
from interviews.serializers import ReviewOutputSerializer, review_data
from interviews.services.reviews import NOTES_MAX_CHARS, REASON_MAX_CHARS, interview_review_create
from interviews.views import InterviewObjectView
from interviewsvc.api import StrictCharField, StrictSerializer, parse_uuid, success, validated
from interviewsvc.logging import bind_interview
from interviewsvc.schema import MetaSerializer, envelope, errors_for


class ReviewCreateMetaSerializer(MetaSerializer):
    review_state = serializers.CharField(help_text="The interview's review state after this review")


class StrictIntegerField(serializers.IntegerField):
    """A whole number sent as a JSON number (DRF's would take "70" or 70.0 too)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class InterviewReviewsView(InterviewObjectView):
    """Reviews are read and written by staff and admins of the interview's organization."""

    interview_action = Action.REVIEW

    class ReviewInputSerializer(StrictSerializer):
        decision = serializers.ChoiceField(choices=ReviewDecision.choices)
        notes = StrictCharField(required=False, allow_blank=True, max_length=NOTES_MAX_CHARS, default="")
        score_override = StrictIntegerField(required=False, allow_null=True, min_value=0, max_value=100, default=None)
        override_reason = StrictCharField(required=False, allow_blank=True, max_length=REASON_MAX_CHARS, default="")

    @extend_schema(
        operation_id="interviews_reviews_list",
        responses={
            200: envelope(ReviewOutputSerializer, many=True),
            **errors_for(401, 403, 404, 422, 429),
        },
        tags=["reviews"],
    )
    def get(self, request, interview_id):
        interview = self.get_interview(parse_uuid(interview_id))
        reviews = [review_data(r) for r in selectors.interview_reviews(interview=interview)]
        return success(request, reviews, "Reviews retrieved")

    @extend_schema(
        request=ReviewInputSerializer,
        operation_id="interviews_reviews_create",
        responses={
            201: envelope(ReviewOutputSerializer, meta=ReviewCreateMetaSerializer),
            **errors_for(400, 401, 403, 404, 413, 422, 429),
        },
        tags=["reviews"],
    )
    def post(self, request, interview_id):
        pk = parse_uuid(interview_id)
        data = validated(self.ReviewInputSerializer, request.data)
        bind_interview(pk)
        # Access (REVIEW) is checked by the service, under the interview's row lock.
        review = interview_review_create(interview_id=pk, reviewer=request.user, **data)
        return success(
            request,
            review_data(review),
            "Review recorded",
            status=201,
            meta={"review_state": review.interview.review_state},
        )
